"""OCPP 1.6J adapter: charger messages into domain services, domain commands into 1.6 calls."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ocpp.exceptions import (
    FormationViolationError,
    FormatViolationError,
    NotSupportedError,
    OCPPError,
)
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

from csms.domain.energy.smart_charging import profile_from_dict
from csms.domain.fleet.certificates import CertificateUse
from csms.domain.fleet.jobs import JobKind, LogType
from csms.domain.fleet.local_lists import Entry, LocalListSupport
from csms.domain.model import Authorization, AuthorizationStatus, TokenType
from csms.ocpp.adapter import OcppAdapter, now, now_z
from csms.ocpp.device_model16 import NoDeviceModel
from csms.ocpp.smart_charging_link import SmartCharging16
from csms.ocpp.translations import charging_profiles as wire
from csms.ocpp.translations import configuration, local_list
from csms.ocpp.translations.certificate_types import USE_16, from_16, use_16
from csms.ocpp.translations.job_status import job_status, request_answer
from csms.ocpp.translations.meter import format_timestamp, parse_timestamp, samples_16
from csms.ocpp.translations.status import authorization_16, evse_status_16, stop_reason_16


def _log_parameters(location: str, oldest: datetime | None,
                    latest: datetime | None) -> dict[str, Any]:
    return {"remote_location": location,
            "oldest_timestamp": format_timestamp(oldest) if oldest else None,
            "latest_timestamp": format_timestamp(latest) if latest else None}


def _id_tag_info(answer: Authorization) -> dict[str, str]:
    info = {"status": authorization_16(answer.status)}
    if answer.group is not None:
        info["parent_id_tag"] = answer.group
    return info


class Ocpp16Adapter(OcppAdapter, ChargePoint, NoDeviceModel, SmartCharging16):
    protocol = "ocpp1.6"
    calls = call
    _boot_status = "Pending"
    _set_by_boot = ("_boot_status",)

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
        registration = await self.services.charge_points.boot(
            self.charge_point_id, charge_point_vendor, charge_point_model,
            kwargs.get("charge_point_serial_number"), kwargs.get("firmware_version"),
        )
        self._boot_status = registration.status
        return call_result.BootNotification(
            current_time=now_z(),
            interval=registration.interval or self.services.settings.heartbeat_interval,
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
        vendor = {k: kwargs[k] for k in ("info", "vendor_id", "vendor_error_code") if kwargs.get(k)}
        if error_code != "NoError" or vendor.keys() - {"vendor_id"}:  # a vendorId alone says nothing
            # What the domain has no place for, kept for the console beside the status (rare:
            # faults and vendor notes only, no write per ordinary status change).
            await self.report("StatusNotification", {"connector_id": connector_id,
                                                     "status": status, "error_code": error_code,
                                                     **vendor})
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_tag: str) -> call_result.Authorize:
        answer = await self.services.sessions.authorize(self.charge_point_id, id_tag)
        return call_result.Authorize(id_tag_info=_id_tag_info(answer))

    @on(Action.start_transaction)
    async def on_start_transaction(self, connector_id: int, id_tag: str, meter_start: int,
                                   timestamp: str, **kwargs: Any) -> call_result.StartTransaction:
        outcome = await self.services.sessions.start(
            self.charge_point_id, connector_id, connector_id, id_tag, parse_timestamp(timestamp),
            float(meter_start), reservation_id=kwargs.get("reservation_id"),
        )
        return call_result.StartTransaction(
            transaction_id=int(outcome.transaction_id),
            id_tag_info=_id_tag_info(outcome.authorization),
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
        known = (await self.services.sessions.stop(
            self.charge_point_id, str(transaction_id), parse_timestamp(timestamp),
            float(meter_stop), stop_reason_16(kwargs.get("reason")), id_tag,
            samples_16(kwargs.get("transaction_data") or []),
        )).known
        if not known:  # kept, so an operator can reconcile it by hand
            await self.report("UnknownStopTransaction", {
                "transaction_id": transaction_id, "meter_stop": meter_stop,
                "timestamp": timestamp, **kwargs,
            })
            self.log.warning("stop for unknown transaction", transaction_id=transaction_id)
        if id_tag is None:
            return call_result.StopTransaction()
        # The session's own token needs no second opinion (nor a roaming partner's round trip).
        sessions = self.services.sessions
        answer = await sessions.grouped(Authorization(AuthorizationStatus.ACCEPTED), id_tag) \
            if known else await sessions.authorize(self.charge_point_id, id_tag)
        return call_result.StopTransaction(id_tag_info=_id_tag_info(answer))

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, **kwargs: Any) -> call_result.DataTransfer:
        return call_result.DataTransfer(
            status=await self.data_from_charger({"vendor_id": vendor_id, **kwargs}))

    @on(Action.firmware_status_notification)
    async def on_firmware_status(self, status: str) -> call_result.FirmwareStatusNotification:
        # 1.6 core names no request: it is about the charger's latest firmware job.
        await job_status(self.services, self.charge_point_id, JobKind.FIRMWARE, None, status)
        return call_result.FirmwareStatusNotification()

    @on(Action.security_event_notification)  # from the 1.6 security whitepaper
    async def on_security_event(self, **kwargs: Any) -> call_result.SecurityEventNotification:
        await self.security_event(kwargs)
        return call_result.SecurityEventNotification()

    @on(Action.diagnostics_status_notification)
    async def on_diagnostics_status(self,
                                    status: str) -> call_result.DiagnosticsStatusNotification:
        await job_status(self.services, self.charge_point_id, JobKind.LOG, None, status)
        return call_result.DiagnosticsStatusNotification()

    @on(Action.signed_firmware_status_notification)  # from the 1.6 security whitepaper
    async def on_signed_firmware_status(
            self, status: str, **kwargs: Any) -> call_result.SignedFirmwareStatusNotification:
        await job_status(self.services, self.charge_point_id, JobKind.FIRMWARE,
                         kwargs.get("request_id"), status)
        return call_result.SignedFirmwareStatusNotification()

    @on(Action.log_status_notification)  # from the 1.6 security whitepaper
    async def on_log_status(self, status: str,
                            **kwargs: Any) -> call_result.LogStatusNotification:
        await job_status(self.services, self.charge_point_id, JobKind.LOG,
                         kwargs.get("request_id"), status)
        return call_result.LogStatusNotification()

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
                           token_type: TokenType, profile: dict[str, Any] | None = None) -> str:
        # §5.16: the chargingProfile's purpose is TxProfile, with no transactionId yet.
        return await self._status(call.RemoteStartTransaction(
            id_tag=token_uid, connector_id=evse_number,
            charging_profile=wire.profile_16(profile_from_dict(profile)) if profile else None))

    async def remote_stop(self, transaction_id: str) -> str:
        return await self._status(call.RemoteStopTransaction(transaction_id=int(transaction_id)))

    async def unlock(self, evse_number: int) -> str:
        return await self._status(call.UnlockConnector(connector_id=evse_number))

    async def reserve_now(self, evse_number: int | None, token_uid: str, reservation_id: int,
                          expires_at: datetime, token_type: TokenType,
                          connector_type: str | None = None, group: str | None = None) -> str:
        if connector_type is not None:
            raise NotSupportedError(description="OCPP 1.6 reserves no connector type")
        # Connector 0: any connector, where the charger supports it (ReserveConnectorZeroSupported;
        # one that does not answers Rejected, §5.13).
        return await self._status(call.ReserveNow(
            connector_id=evse_number or 0, expiry_date=format_timestamp(expires_at),
            id_tag=token_uid, reservation_id=reservation_id, parent_id_tag=group))

    async def cancel_reservation(self, reservation_id: int) -> str:
        return await self._status(call.CancelReservation(reservation_id=reservation_id))

    async def reset(self, hard: bool) -> str:
        return await self._status(call.Reset(type="Hard" if hard else "Soft"))

    async def change_availability(self, evse_number: int, operative: bool,
                                  connector_number: int | None = None) -> str:
        # A 1.6 connector N is EVSE N here, with connector N: no other connector to address.
        if connector_number not in (None, evse_number) and not (evse_number and connector_number == 1):
            raise NotSupportedError(description=f"a 1.6 charge point has no connector "
                                                f"{connector_number} on connector {evse_number}")
        return await self._status(call.ChangeAvailability(
            connector_id=evse_number, type="Operative" if operative else "Inoperative"))

    async def trigger(self, message: str, evse_number: int | None) -> str:
        return await self._status(call.TriggerMessage(requested_message=message,
                                                      connector_id=evse_number))

    async def get_configuration(self, keys: list[str]) -> dict[str, Any]:
        """{"entries": neutral entries}; more keys than the charger's GetConfigurationMaxKeys
        are asked in batches of that many."""
        found = []
        for batch in configuration.batches(keys, await self._max_keys() if len(keys) > 1 else None):
            answer = await self.call(call.GetConfiguration(key=batch or None), suppress=False)
            # AuthorizationKey is write-only: a charger that still reports it is masked.
            found += configuration.entries_16(answer.configuration_key, answer.unknown_key)
        return {"entries": [e.plain() for e in found]}

    _max_keys_known: int | None = None

    async def _max_keys(self) -> int | None:
        """GetConfigurationMaxKeys, asked once a connection; None when the charger does not say."""
        if self._max_keys_known is None:
            try:
                answer = await self.call(call.GetConfiguration(key=["GetConfigurationMaxKeys"]),
                                         suppress=False)
            except OCPPError:  # a firmware that cannot say: no limit we know of
                self._max_keys_known = 0
                return None
            values = [k.get("value") for k in answer.configuration_key or []
                      if k.get("key") == "GetConfigurationMaxKeys"]
            self._max_keys_known = (int(values[0]) if values and str(values[0]).isdigit()
                                    else 0)
        return self._max_keys_known or None

    async def change_configuration(self, key: str, value: str) -> str:
        return await self._status(call.ChangeConfiguration(key=key, value=value))

    async def set_password(self, password: str) -> str:
        # The security whitepaper's key for the Basic auth password.
        return await self.change_configuration("AuthorizationKey", password)

    async def set_meter_interval(self, seconds: int) -> str:
        return await self.change_configuration("MeterValueSampleInterval", str(seconds))


    # --- local authorization list (Local Auth List Management profile) -----------------------

    async def local_list_support(self) -> LocalListSupport:
        answer = await self.call(call.GetConfiguration(key=local_list.KEYS_16), suppress=False)
        return local_list.support_16(answer.configuration_key or [])

    async def get_local_list_version(self) -> int:
        answer = await self.call(call.GetLocalListVersion(), suppress=False)
        return int(answer.list_version)

    async def send_local_list(self, version: int, full: bool,
                              changes: list[tuple[str, Entry | None]]) -> str:
        # A 1.6 idTag is at most 20 characters: longer (OCPI) UIDs cannot be on its list.
        return await self._status(call.SendLocalList(
            list_version=version, update_type="Full" if full else "Differential",
            local_authorization_list=[local_list.entry_16(uid, entry) for uid, entry in changes
                                      if len(uid) <= local_list.ID_TAG_16]))

    async def set_configuration(self, values: dict[str, str]) -> dict[str, str]:
        # ChangeConfiguration takes one key a message.
        return {key: await self.change_configuration(key, value) for key, value in values.items()}

    async def update_firmware(self, request_id: int, location: str, retrieve_at: datetime,
                              install_at: datetime | None, retries: int | None,
                              retry_interval: int | None, signing_certificate: str | None,
                              signature: str | None) -> dict[str, Any]:
        if signing_certificate is None and signature is None:
            # 1.6 core: the answer is empty, the statuses that follow tell.
            await self.call(call.UpdateFirmware(
                location=location, retrieve_date=format_timestamp(retrieve_at), retries=retries,
                retry_interval=retry_interval), suppress=False)
            return request_answer("Accepted")
        answer = await self.call(call.SignedUpdateFirmware(
            request_id=request_id, retries=retries, retry_interval=retry_interval,
            firmware={"location": location, "retrieve_date_time": format_timestamp(retrieve_at),
                      "install_date_time": format_timestamp(install_at) if install_at else None,
                      "signing_certificate": signing_certificate, "signature": signature}),
            suppress=False)
        return request_answer(str(answer.status))

    async def get_log(self, request_id: int, log_type: str, location: str,
                      oldest: datetime | None, latest: datetime | None, retries: int | None,
                      retry_interval: int | None) -> dict[str, Any]:
        if log_type == LogType.DIAGNOSTICS:  # the core profile's way, which every charger has
            diagnostics = await self.call(call.GetDiagnostics(
                location=location, retries=retries, retry_interval=retry_interval,
                start_time=format_timestamp(oldest) if oldest else None,
                stop_time=format_timestamp(latest) if latest else None), suppress=False)
            return request_answer("Accepted", diagnostics.file_name)
        answer = await self.call(call.GetLog(
            log_type="SecurityLog", request_id=request_id, retries=retries,
            retry_interval=retry_interval, log=_log_parameters(location, oldest, latest)),
            suppress=False)
        return request_answer(str(answer.status), answer.filename)

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

    async def set_security_profile(self, profile: int, csms_url: str = "",
                                   interface: str = "Wired0") -> str:
        # The whitepaper's key; the charger reconnects with it after a reset.
        return await self.change_configuration("SecurityProfile", str(profile))

    async def renew_certificate(self, use: str) -> str:
        """A02: the charger makes a new key and sends its CSR (the whitepaper's trigger)."""
        if CertificateUse(use) is not CertificateUse.CHARGING_STATION:
            return "NotSupported"  # 1.6 has no V2G certificate to renew
        return await self._status(call.ExtendedTriggerMessage(
            requested_message="SignChargePointCertificate"))
