"""The state database, the only package that speaks SQL: models, the ledger of mail, the outbox, reviews and
reports."""
