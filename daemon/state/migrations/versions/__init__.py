"""The revisions of the state schema, oldest first: 0001 is the schema every state before migrations had."""
