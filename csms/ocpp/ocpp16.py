"""OCPP 1.6J adapter: charger messages into domain services, domain commands into 1.6 calls."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ocpp.exceptions import FormationViolationError, FormatViolationError, OCPPError
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

from csms.domain.certificates import CertificateUse
from csms.domain.model import AuthorizationStatus, TokenType
from csms.ocpp.adapter import OcppAdapter, now, now_z
from csms.ocpp.certificate_types import USE_16, from_16, use_16
from csms.ocpp.meter import format_timestamp, parse_timestamp, samples_16
from csms.ocpp.status import authorization_16, evse_status_16, stop_reason_16
from csms.security.masking import mask_payload


class Ocpp16Adapter(OcppAdapter, ChargePoint):
    protocol = "ocpp1.6"
    _boot_status = "Pending"

    def error_for(self, error: OCPPError) -> OCPPError:
        # The library answers 1.6 chargers with 2.0.1's spelling; 1.6 says FormationViolation.
        error = super().error_for(error)
        if isinstance(error, FormatViolationError):
            return FormationViolationError(description=error.description, details=error.details)
        return error

    # --- charger → CSMS ----------------------------------------------------------------------

    @on(Action.boot_notification)
    async def on_boot_notification(self, charge_point_vendor: str, charge_point_model: str,
                                   **kwargs: Any) -> call_result.BootNotification:
        self._boot_status = await self.services.charge_points.boot(
            self.charge_point_id, charge_point_vendor, charge_point_model,
            kwargs.get("charge_point_serial_number"), kwargs.get("firmware_version"),
        )
        return call_result.BootNotification(
            current_time=now_z(), interval=self.services.settings.heartbeat_interval,
            status=self._boot_status,
        )

    @after(Action.boot_notification)
    async def after_boot_notification(self, **kwargs: Any) -> None:
        if self._boot_status == "Accepted":
            self.spawn(self.configure_after_boot())

    @on(Action.heartbeat)
    async def on_heartbeat(self) -> call_result.Heartbeat:
        await self.services.charge_points.heartbeat(self.charge_point_id)
        return call_result.Heartbeat(current_time=now_z())

    @on(Action.status_notification)
    async def on_status_notification(self, connector_id: int, error_code: str, status: str,
                                     **kwargs: Any) -> call_result.StatusNotification:
        at = parse_timestamp(kwargs["timestamp"]) if kwargs.get("timestamp") else None
        await self.services.charge_points.status(
            self.charge_point_id, connector_id, connector_id, evse_status_16(status), status,
            None if error_code == "NoError" else error_code, at or now(),
        )
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_tag: str) -> call_result.Authorize:
        answer = await self.services.sessions.authorize(self.charge_point_id, id_tag)
        return call_result.Authorize(id_tag_info={"status": authorization_16(answer.status)})

    @on(Action.start_transaction)
    async def on_start_transaction(self, connector_id: int, id_tag: str, meter_start: int,
                                   timestamp: str, **kwargs: Any) -> call_result.StartTransaction:
        outcome = await self.services.sessions.start(
            self.charge_point_id, connector_id, connector_id, id_tag, parse_timestamp(timestamp),
            float(meter_start), reservation_id=kwargs.get("reservation_id"),
        )
        return call_result.StartTransaction(
            transaction_id=int(outcome.transaction_id),
            id_tag_info={"status": authorization_16(outcome.authorization.status)},
        )

    @on(Action.meter_values)
    async def on_meter_values(self, connector_id: int, meter_value: list[dict[str, Any]],
                              **kwargs: Any) -> call_result.MeterValues:
        transaction_id = kwargs.get("transaction_id")
        await self.services.sessions.meter(
            self.charge_point_id, connector_id or None,
            str(transaction_id) if transaction_id is not None else None, samples_16(meter_value),
        )
        return call_result.MeterValues()

    @on(Action.stop_transaction)
    async def on_stop_transaction(self, meter_stop: int, timestamp: str, transaction_id: int,
                                  **kwargs: Any) -> call_result.StopTransaction:
        id_tag = kwargs.get("id_tag")
        known = await self.services.sessions.stop(
            self.charge_point_id, str(transaction_id), parse_timestamp(timestamp),
            float(meter_stop), stop_reason_16(kwargs.get("reason")), id_tag,
            samples_16(kwargs.get("transaction_data") or []),
        )
        if not known:  # kept, so an operator can reconcile it by hand
            await self.report("UnknownStopTransaction", {
                "transaction_id": transaction_id, "meter_stop": meter_stop,
                "timestamp": timestamp, **kwargs,
            })
            self.log.warning("stop for unknown transaction", transaction_id=transaction_id)
        if id_tag is None:
            return call_result.StopTransaction()
        # The session's own token needs no second opinion (nor a roaming partner's round trip).
        status = AuthorizationStatus.ACCEPTED if known else \
            (await self.services.sessions.authorize(self.charge_point_id, id_tag)).status
        return call_result.StopTransaction(id_tag_info={"status": authorization_16(status)})

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, **kwargs: Any) -> call_result.DataTransfer:
        await self.report("DataTransfer", {"vendor_id": vendor_id, **kwargs})
        return call_result.DataTransfer(status="Accepted")

    @on(Action.firmware_status_notification)
    async def on_firmware_status(self, status: str) -> call_result.FirmwareStatusNotification:
        await self.report("FirmwareStatusNotification", {"status": status})
        return call_result.FirmwareStatusNotification()

    @on(Action.security_event_notification)  # from the 1.6 security whitepaper
    async def on_security_event(self, **kwargs: Any) -> call_result.SecurityEventNotification:
        await self.security_event(kwargs)
        return call_result.SecurityEventNotification()

    @on(Action.diagnostics_status_notification)
    async def on_diagnostics_status(self,
                                    status: str) -> call_result.DiagnosticsStatusNotification:
        await self.report("DiagnosticsStatusNotification", {"status": status})
        return call_result.DiagnosticsStatusNotification()

    @on(Action.sign_certificate)  # from the 1.6 security whitepaper (A02/A03)
    async def on_sign_certificate(self, csr: str) -> call_result.SignCertificate:
        return call_result.SignCertificate(
            status=await self.sign_csr(csr, CertificateUse.CHARGING_STATION))

    @after(Action.sign_certificate)
    async def after_sign_certificate(self, **kwargs: Any) -> None:
        self.spawn(self.send_signed())

    # --- CSMS → charger (the ChargerLink the command service uses) -----------------------

    async def _status(self, payload: Any) -> str:
        answer = await self.call(payload, suppress=False)
        return str(answer.status)

    async def remote_start(self, evse_number: int, token_uid: str, remote_start_id: int,
                           token_type: TokenType) -> str:
        return await self._status(call.RemoteStartTransaction(id_tag=token_uid,
                                                              connector_id=evse_number))

    async def remote_stop(self, transaction_id: str) -> str:
        return await self._status(call.RemoteStopTransaction(transaction_id=int(transaction_id)))

    async def unlock(self, evse_number: int) -> str:
        return await self._status(call.UnlockConnector(connector_id=evse_number))

    async def reserve_now(self, evse_number: int, token_uid: str, reservation_id: int,
                          expires_at: datetime, token_type: TokenType) -> str:
        return await self._status(call.ReserveNow(
            connector_id=evse_number, expiry_date=format_timestamp(expires_at), id_tag=token_uid,
            reservation_id=reservation_id))

    async def cancel_reservation(self, reservation_id: int) -> str:
        return await self._status(call.CancelReservation(reservation_id=reservation_id))

    async def reset(self, hard: bool) -> str:
        return await self._status(call.Reset(type="Hard" if hard else "Soft"))

    async def change_availability(self, evse_number: int, operative: bool) -> str:
        return await self._status(call.ChangeAvailability(
            connector_id=evse_number, type="Operative" if operative else "Inoperative"))

    async def trigger(self, message: str, evse_number: int | None) -> str:
        return await self._status(call.TriggerMessage(requested_message=message,
                                                      connector_id=evse_number))

    async def get_configuration(self, keys: list[str]) -> dict[str, Any]:
        answer = await self.call(call.GetConfiguration(key=keys or None), suppress=False)
        # AuthorizationKey is write-only: a charger that still reports it is not echoed.
        return mask_payload({"configuration_key": answer.configuration_key or [],
                             "unknown_key": answer.unknown_key or []})

    async def change_configuration(self, key: str, value: str) -> str:
        return await self._status(call.ChangeConfiguration(key=key, value=value))

    async def set_password(self, password: str) -> str:
        # The security whitepaper's key for the Basic auth password.
        return await self.change_configuration("AuthorizationKey", password)

    async def set_meter_interval(self, seconds: int) -> str:
        return await self.change_configuration("MeterValueSampleInterval", str(seconds))


    # --- certificates (1.6 security whitepaper) ----------------------------------------------

    async def certificate_signed(self, chain: str, use: CertificateUse) -> str:
        return await self._status(call.CertificateSigned(certificate_chain=chain))

    async def install_certificate(self, use: str, certificate_pem: str) -> str:
        name = use_16(CertificateUse(use))
        if name is None:
            return "NotSupported"  # no such type in 1.6: nothing to send
        return await self._status(call.InstallCertificate(certificate_type=name,
                                                          certificate=certificate_pem))

    async def installed_certificates(self, uses: list[str]) -> dict[str, Any]:
        """1.6 asks for one type at a time: a call per type (none: each type 1.6 knows)."""
        asked = [name for use in uses if (name := use_16(CertificateUse(use)))] if uses \
            else list(USE_16.values())
        found: list[dict[str, Any]] = []
        for name in dict.fromkeys(asked):
            answer = await self.call(call.GetInstalledCertificateIds(certificate_type=name),
                                     suppress=False)
            use = from_16(name)
            found += [{"certificate_type": use.value if use else name, **data}
                      for data in answer.certificate_hash_data or []]
        return {"status": "Accepted", "certificates": found}

    async def delete_certificate(self, hash_data: dict[str, str]) -> str:
        return await self._status(call.DeleteCertificate(certificate_hash_data=hash_data))

    async def set_security_profile(self, profile: int) -> str:
        # The whitepaper's key; the charger reconnects with it after a reset.
        return await self.change_configuration("SecurityProfile", str(profile))

    async def renew_certificate(self, use: str) -> str:
        """A02: the charger makes a new key and sends its CSR (the whitepaper's trigger)."""
        if CertificateUse(use) is not CertificateUse.CHARGING_STATION:
            return "NotSupported"  # 1.6 has no V2G certificate to renew
        return await self._status(call.ExtendedTriggerMessage(
            requested_message="SignChargePointCertificate"))
