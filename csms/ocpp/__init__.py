"""The OCPP wire: the WebSocket server, the two version adapters and their pure translations."""
