"""The long-running daemon: the run loop, IMAP watching, the schedule, the state lock and systemd notifications."""
