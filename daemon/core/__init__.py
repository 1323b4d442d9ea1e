"""The pure core: parsing, automated-mail detection, sender trust, threading, facts, rules, decisions and one
evaluation of a message. No I/O; imports only itself, settings and errors."""
