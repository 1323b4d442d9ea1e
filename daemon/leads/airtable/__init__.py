"""The Airtable backend: settings, a paced client, cell conversion, the LeadStore and the schema check; the only
importer of pyairtable."""
