"""partnerships-daemon: the email side of a small non-profit's sales and invoicing process."""

__version__ = "0.1.0"
