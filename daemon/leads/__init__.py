"""The leads table behind one protocol (LeadStore): the embedded SQLite backend and the team's Airtable base."""
