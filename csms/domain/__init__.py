"""The protocol-neutral domain: its model, its events and the services that change it."""
