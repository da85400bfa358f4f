"""Managing the chargers themselves: configuration, device model, firmware jobs, local lists."""
