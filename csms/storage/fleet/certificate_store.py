"""Certificates in the database: the CA we made, and the certificates each charger holds."""

from __future__ import annotations

from typing import Any

from csms.storage.store import Executor, Row

HASH_FIELDS = ("hash_algorithm", "issuer_name_hash", "issuer_key_hash", "serial_number")


async def get_authority(db: Executor) -> Row | None:
    return await db.fetchrow("SELECT certificate_pem, key_pem FROM certificate_authority")


async def add_authority(db: Executor, certificate_pem: str, key_pem: str) -> None:
    """Kept only if no node made one first: every node then reads the same one back."""
    await db.execute(
        """INSERT INTO certificate_authority (certificate_pem, key_pem) VALUES ($1, $2)
           ON CONFLICT (id) DO NOTHING""", certificate_pem, key_pem)


async def list_installed(db: Executor, charge_point_id: str) -> list[Row]:
    return await db.fetch(
        """SELECT certificate_type, hash_algorithm, issuer_name_hash, issuer_key_hash,
                  serial_number, updated_at
           FROM charger_certificates WHERE charge_point_id = $1
           ORDER BY certificate_type, serial_number""", charge_point_id)


async def add_installed(db: Executor, charge_point_id: str, certificate_type: str,
                        hash_data: dict[str, Any]) -> None:
    await db.execute(
        """INSERT INTO charger_certificates (charge_point_id, certificate_type, hash_algorithm,
                                            issuer_name_hash, issuer_key_hash, serial_number)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (charge_point_id, hash_algorithm, issuer_name_hash, issuer_key_hash,
                        serial_number)
           DO UPDATE SET certificate_type = EXCLUDED.certificate_type, updated_at = now()""",
        charge_point_id, certificate_type, *(str(hash_data[k]) for k in HASH_FIELDS))


async def replace_installed(db: Executor, charge_point_id: str, types: list[str],
                            certificates: list[dict[str, Any]]) -> None:
    """What the charger reported for these types is all it holds of them."""
    await db.execute("DELETE FROM charger_certificates WHERE charge_point_id = $1 "
                     "AND certificate_type = ANY($2::text[])", charge_point_id, types)
    for certificate in certificates:
        await add_installed(db, charge_point_id, certificate["certificate_type"], certificate)


async def remove_installed(db: Executor, charge_point_id: str, hash_data: dict[str, Any]) -> None:
    await db.execute(
        """DELETE FROM charger_certificates WHERE charge_point_id = $1 AND hash_algorithm = $2
           AND issuer_name_hash = $3 AND issuer_key_hash = $4 AND serial_number = $5""",
        charge_point_id, *(str(hash_data[k]) for k in HASH_FIELDS))
