"""Who may connect and what is never shown: passwords, throttles, TLS, secrets masked, exposure checks."""
