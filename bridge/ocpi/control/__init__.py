"""What eMSPs ask of our chargers: Commands and ChargingProfiles, carried out through the command service."""
