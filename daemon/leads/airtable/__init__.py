"""leads/airtable"""
