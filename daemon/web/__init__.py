"""The team's web desk: review queue, leads board, activity, invoices and health, behind a sign-in."""
