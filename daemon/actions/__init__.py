"""Carrying out recorded actions from the outbox exactly once: creates, status moves, notes, forwards, batches,
digests."""
