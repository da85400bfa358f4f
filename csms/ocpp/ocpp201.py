"""OCPP 2.0.1 adapter: charger messages into domain services, domain commands into 2.0.1 calls."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action

from csms.domain.certificates import CertificateUse
from csms.domain.model import Authorization, TokenType
from csms.ocpp.adapter import OcppAdapter, now_z
from csms.ocpp.certificate_types import SIGNING_201, USE_201, from_201, signing_from_201, use_201
from csms.ocpp.meter import format_timestamp, parse_timestamp, samples_201
from csms.ocpp.status import authorization_201, evse_status_201, id_token_type_201, stop_reason_201
from csms.security.masking import mask_payload


def _token_info(answer: Authorization) -> dict[str, str]:
    return {"status": authorization_201(answer.status)}


def _id_token(token_uid: str, token_type: TokenType) -> dict[str, str]:
    # Relayed from another node, the type arrives as its plain value.
    return {"id_token": token_uid, "type": id_token_type_201(TokenType(token_type))}


def _component_variable(key: str) -> dict[str, Any]:
    """'SampledDataCtrlr.TxUpdatedInterval' → component and variable."""
    component, _, variable = key.rpartition(".")
    return {"component": {"name": component}, "variable": {"name": variable}}


class Ocpp201Adapter(OcppAdapter, ChargePoint):
    protocol = "ocpp2.0.1"
    _boot_status = "Pending"

    # --- charger → CSMS ----------------------------------------------------------------------

    @on(Action.boot_notification)
    async def on_boot_notification(self, charging_station: dict[str, Any], reason: str,
                                   **kwargs: Any) -> call_result.BootNotification:
        self._boot_status = await self.services.charge_points.boot(
            self.charge_point_id, charging_station["vendor_name"], charging_station["model"],
            charging_station.get("serial_number"), charging_station.get("firmware_version"),
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
    async def on_heartbeat(self, **kwargs: Any) -> call_result.Heartbeat:
        await self.services.charge_points.heartbeat(self.charge_point_id)
        return call_result.Heartbeat(current_time=now_z())

    @on(Action.status_notification)
    async def on_status_notification(self, timestamp: str, connector_status: str, evse_id: int,
                                     connector_id: int,
                                     **kwargs: Any) -> call_result.StatusNotification:
        await self.services.charge_points.status(
            self.charge_point_id, evse_id, connector_id, evse_status_201(connector_status),
            connector_status, None, parse_timestamp(timestamp),
        )
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_token: dict[str, Any], **kwargs: Any) -> call_result.Authorize:
        answer = await self.services.sessions.authorize(self.charge_point_id, id_token["id_token"])
        return call_result.Authorize(id_token_info=_token_info(answer))

    @on(Action.transaction_event)
    async def on_transaction_event(self, event_type: str, timestamp: str, trigger_reason: str,
                                   seq_no: int, transaction_info: dict[str, Any],
                                   **kwargs: Any) -> call_result.TransactionEvent:
        sessions = self.services.sessions
        transaction_id = transaction_info["transaction_id"]
        evse = kwargs.get("evse") or {}
        token = (kwargs.get("id_token") or {}).get("id_token")
        samples = samples_201(kwargs.get("meter_value") or [])
        at = parse_timestamp(timestamp)
        if kwargs.get("offline"):
            self.log.info("offline transaction event", transaction_id=transaction_id,
                          event_type=event_type, seq_no=seq_no)
        answer: Authorization | None = None
        if event_type == "Started" or not await sessions.known(self.charge_point_id,
                                                                transaction_id):
            # A first event that is not "Started" means we missed the start: open it now.
            started = await sessions.start(
                self.charge_point_id, evse.get("id", 1), evse.get("connector_id"), token, at,
                None, transaction_id=transaction_id,
                remote_start_id=transaction_info.get("remote_start_id"), seq_no=seq_no,
                samples=samples if event_type == "Started" else (),
                reservation_id=kwargs.get("reservation_id"),
            )
            answer = started.authorization if token else None
            if event_type == "Started":
                samples = []
        elif token is not None:
            answer = await sessions.attach_token(self.charge_point_id, transaction_id, token)

        if event_type == "Ended":
            await sessions.stop(
                self.charge_point_id, transaction_id, at, None,
                stop_reason_201(transaction_info.get("stopped_reason")), token, samples, seq_no,
            )
        elif samples or event_type == "Updated":
            await sessions.meter(self.charge_point_id, evse.get("id"), transaction_id, samples,
                                 seq_no)
        if answer is None:
            return call_result.TransactionEvent()
        return call_result.TransactionEvent(id_token_info=_token_info(answer))

    @on(Action.meter_values)
    async def on_meter_values(self, evse_id: int, meter_value: list[dict[str, Any]],
                              **kwargs: Any) -> call_result.MeterValues:
        await self.services.sessions.meter(self.charge_point_id, evse_id or None, None,
                                           samples_201(meter_value))
        return call_result.MeterValues()

    @on(Action.reservation_status_update)
    async def on_reservation_status_update(self, reservation_id: int,
                                           reservation_update_status: str,
                                           **kwargs: Any) -> call_result.ReservationStatusUpdate:
        # The charger dropped it (Expired) or it was taken away (Removed): over either way.
        await self.services.reservations.end(reservation_id, "expired")
        return call_result.ReservationStatusUpdate()

    @on(Action.notify_event)
    async def on_notify_event(self, **kwargs: Any) -> call_result.NotifyEvent:
        await self.report("NotifyEvent", kwargs)
        return call_result.NotifyEvent()

    @on(Action.security_event_notification)
    async def on_security_event(self, **kwargs: Any) -> call_result.SecurityEventNotification:
        await self.security_event(kwargs)
        return call_result.SecurityEventNotification()

    @on(Action.notify_report)
    async def on_notify_report(self, **kwargs: Any) -> call_result.NotifyReport:
        await self.report("NotifyReport", kwargs)
        return call_result.NotifyReport()

    @on(Action.data_transfer)
    async def on_data_transfer(self, **kwargs: Any) -> call_result.DataTransfer:
        await self.report("DataTransfer", kwargs)
        return call_result.DataTransfer(status="Accepted")

    @on(Action.firmware_status_notification)
    async def on_firmware_status(self, **kwargs: Any) -> call_result.FirmwareStatusNotification:
        await self.report("FirmwareStatusNotification", kwargs)
        return call_result.FirmwareStatusNotification()

    @on(Action.log_status_notification)
    async def on_log_status(self, **kwargs: Any) -> call_result.LogStatusNotification:
        await self.report("LogStatusNotification", kwargs)
        return call_result.LogStatusNotification()

    @on(Action.sign_certificate)  # A02/A03
    async def on_sign_certificate(self, csr: str, **kwargs: Any) -> call_result.SignCertificate:
        use = signing_from_201(kwargs.get("certificate_type"))
        return call_result.SignCertificate(status=await self.sign_csr(csr, use))

    @after(Action.sign_certificate)
    async def after_sign_certificate(self, **kwargs: Any) -> None:
        self.spawn(self.send_signed())

    # --- CSMS → charger (the ChargerLink the command service uses) -----------------------

    async def _status(self, payload: Any) -> str:
        answer = await self.call(payload, suppress=False)
        return str(answer.status)

    async def remote_start(self, evse_number: int, token_uid: str, remote_start_id: int,
                           token_type: TokenType) -> str:
        return await self._status(call.RequestStartTransaction(
            id_token=_id_token(token_uid, token_type),
            remote_start_id=remote_start_id, evse_id=evse_number,
        ))

    async def remote_stop(self, transaction_id: str) -> str:
        return await self._status(call.RequestStopTransaction(transaction_id=transaction_id))

    async def unlock(self, evse_number: int) -> str:
        return await self._status(call.UnlockConnector(evse_id=evse_number, connector_id=1))

    async def reserve_now(self, evse_number: int, token_uid: str, reservation_id: int,
                          expires_at: datetime, token_type: TokenType) -> str:
        return await self._status(call.ReserveNow(
            id=reservation_id, expiry_date_time=format_timestamp(expires_at),
            id_token=_id_token(token_uid, token_type), evse_id=evse_number))

    async def cancel_reservation(self, reservation_id: int) -> str:
        return await self._status(call.CancelReservation(reservation_id=reservation_id))

    async def reset(self, hard: bool) -> str:
        return await self._status(call.Reset(type="Immediate" if hard else "OnIdle"))

    async def change_availability(self, evse_number: int, operative: bool) -> str:
        return await self._status(call.ChangeAvailability(
            operational_status="Operative" if operative else "Inoperative",
            evse={"id": evse_number} if evse_number else None,
        ))

    async def trigger(self, message: str, evse_number: int | None) -> str:
        return await self._status(call.TriggerMessage(
            requested_message=message, evse={"id": evse_number} if evse_number else None,
        ))

    async def get_configuration(self, keys: list[str]) -> dict[str, Any]:
        answer = await self.call(call.GetVariables(
            get_variable_data=[_component_variable(key) for key in keys]), suppress=False)
        # BasicAuthPassword is write-only: a charger that still reports it is not echoed.
        return mask_payload({"get_variable_result": answer.get_variable_result})

    async def change_configuration(self, key: str, value: str) -> str:
        answer = await self.call(call.SetVariables(set_variable_data=[
            {"attribute_value": value, **_component_variable(key)}]), suppress=False)
        return str(answer.set_variable_result[0]["attribute_status"])

    async def set_password(self, password: str) -> str:
        return await self.change_configuration("SecurityCtrlr.BasicAuthPassword", password)

    async def set_meter_interval(self, seconds: int) -> str:
        return await self.change_configuration("SampledDataCtrlr.TxUpdatedInterval", str(seconds))

    # --- certificates (A, M) -----------------------------------------------------------------

    async def certificate_signed(self, chain: str, use: CertificateUse) -> str:
        return await self._status(call.CertificateSigned(certificate_chain=chain,
                                                         certificate_type=SIGNING_201[use]))

    async def install_certificate(self, use: str, certificate_pem: str) -> str:
        name = use_201(CertificateUse(use))
        if name is None or name == USE_201[CertificateUse.V2G_CHAIN]:  # not installable (M05)
            return "NotSupported"
        return await self._status(call.InstallCertificate(certificate_type=name,
                                                          certificate=certificate_pem))

    async def installed_certificates(self, uses: list[str]) -> dict[str, Any]:
        names = [name for use in uses if (name := use_201(CertificateUse(use)))]
        answer = await self.call(call.GetInstalledCertificateIds(certificate_type=names or None),
                                 suppress=False)
        found = []
        for chain in answer.certificate_hash_data_chain or []:
            use = from_201(chain["certificate_type"])
            found.append({"certificate_type": use.value if use else chain["certificate_type"],
                          **chain["certificate_hash_data"]})
        return {"status": str(answer.status), "certificates": found}

    async def delete_certificate(self, hash_data: dict[str, str]) -> str:
        return await self._status(call.DeleteCertificate(certificate_hash_data=hash_data))

    async def set_security_profile(self, profile: int) -> str:
        # A05 with the variable itself; the charger reconnects with it after a reset.
        return await self.change_configuration("SecurityCtrlr.SecurityProfile", str(profile))

    async def renew_certificate(self, use: str) -> str:
        """A02: the charger makes a new key and sends its CSR."""
        message = {CertificateUse.CHARGING_STATION: "SignChargingStationCertificate",
                   CertificateUse.V2G: "SignV2GCertificate"}.get(CertificateUse(use))
        if message is None:
            return "NotSupported"
        return await self._status(call.TriggerMessage(requested_message=message))
