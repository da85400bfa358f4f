"""OCPP 2.0.1 adapter: charger messages into domain services, domain commands into 2.0.1 calls."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from ocpp.exceptions import OCPPError, SecurityError
from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action
from websockets.exceptions import ConnectionClosed

from csms.cluster.links import BadCommand
from csms.domain.billing.session_costs import ShownCost
from csms.domain.energy.smart_charging import profile_from_dict
from csms.domain.fleet.certificates import CertificateUse
from csms.domain.fleet.jobs import JobKind, LogType
from csms.domain.fleet.local_lists import Entry, LocalListSupport
from csms.domain.model import Authorization, TokenType, energy_register_wh, parse_token_type
from csms.ocpp.adapter import OcppAdapter, now_z
from csms.ocpp.device_model201 import DeviceModel201
from csms.ocpp.ocpp201_notifications import ChargerNotifications201
from csms.ocpp.smart_charging_link import SmartCharging201
from csms.ocpp.translations import charging_profiles as wire
from csms.ocpp.translations import configuration, local_list, network_profile
from csms.ocpp.translations.certificate_types import SIGNING_201, USE_201, from_201, signing_from_201, use_201
from csms.ocpp.translations.job_status import job_status, request_answer
from csms.ocpp.translations.meter import format_timestamp, parse_timestamp, samples_201
from csms.ocpp.translations.registration import allowed as registration_allows
from csms.ocpp.translations.status import (
    authorization_201,
    evse_status_201,
    id_token_type_201,
    stop_reason_201,
)


def _token_info(answer: Authorization) -> dict[str, Any]:
    info: dict[str, Any] = {"status": authorization_201(answer.status)}
    if answer.group is not None:  # a group is an id we made up: type Central
        info["group_id_token"] = {"id_token": answer.group, "type": "Central"}
    return info


def _id_token(token_uid: str, token_type: TokenType) -> dict[str, str]:
    # Relayed from another node, the type arrives as its plain value.
    return {"id_token": token_uid, "type": id_token_type_201(TokenType(token_type))}


def _cost_message(cost: ShownCost) -> dict[str, str]:
    return {"format": "ASCII", "content": f"Total cost: {cost.total:.2f} {cost.currency}"}


# Seconds a charger waits for our answers on the profile we give it (2.0.1's suggested start).
NETWORK_MESSAGE_TIMEOUT = 30


def _component_variable(key: str) -> dict[str, Any]:
    """'SampledDataCtrlr.TxUpdatedInterval' → component and variable."""
    component, _, variable = key.rpartition(".")
    return {"component": {"name": component}, "variable": {"name": variable}}


class Ocpp201Adapter(OcppAdapter, ChargerNotifications201, ChargePoint, DeviceModel201,
                     SmartCharging201):
    protocol = "ocpp2.0.1"
    calls = call
    _boot_status = "Pending"
    _registration: str | None = None  # our last boot answer on this connection
    _set_by_boot = ("_boot_status", "_registration")
    _triggered: frozenset[str] = frozenset()  # what we asked a Pending charger to send
    _seq_gaps: frozenset[str] | None = None  # transactions whose events showed a seqNo gap
    # Per connection once used (most chargers never have a tariff): transaction → when its last
    # CostUpdated went, and whether the station refused one.
    _cost_sent: dict[str, float] | None = None
    _cost_refused = False

    def check_registration(self, action: str) -> None:
        if not registration_allows(self._registration, action, self._triggered):
            raise SecurityError(description=f"{action} refused: the charging station is "
                                f"{self._registration}, not Accepted (boot again)")

    # --- charger → CSMS ----------------------------------------------------------------------

    @on(Action.boot_notification)
    async def on_boot_notification(self, charging_station: dict[str, Any], reason: str,
                                   **kwargs: Any) -> call_result.BootNotification:
        registration = await self.services.charge_points.boot(
            self.charge_point_id, charging_station["vendor_name"], charging_station["model"],
            charging_station.get("serial_number"), charging_station.get("firmware_version"),
        )
        self._boot_status = self._registration = registration.status
        if registration.status == "Accepted":
            self._triggered = frozenset()
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
        answer = await self.services.sessions.authorize(
            self.charge_point_id, id_token["id_token"], token_type=parse_token_type(id_token.get("type")))
        return call_result.Authorize(id_token_info=_token_info(answer))

    @on(Action.transaction_event)
    async def on_transaction_event(self, event_type: str, timestamp: str, trigger_reason: str,
                                   seq_no: int, transaction_info: dict[str, Any],
                                   **kwargs: Any) -> call_result.TransactionEvent:
        sessions = self.services.sessions
        transaction_id = transaction_info["transaction_id"]
        evse = kwargs.get("evse") or {}
        token = (kwargs.get("id_token") or {}).get("id_token")
        token_type = parse_token_type((kwargs.get("id_token") or {}).get("type"))
        samples = samples_201(kwargs.get("meter_value") or [])
        at = parse_timestamp(timestamp)
        if kwargs.get("offline"):
            self.log.info("offline transaction event", transaction_id=transaction_id,
                          event_type=event_type, seq_no=seq_no)
        answer: Authorization | None = None
        gap = False
        if event_type == "Started" or not await sessions.known(self.charge_point_id,
                                                                transaction_id):
            # A first event that is not "Started" means we missed the start: open it now.
            gap = event_type != "Started" and seq_no > 0
            started = await sessions.start(
                self.charge_point_id, evse.get("id", 1), evse.get("connector_id"), token, at,
                None, transaction_id=transaction_id,
                remote_start_id=transaction_info.get("remote_start_id"), seq_no=seq_no,
                samples=samples if event_type == "Started" else (),
                reservation_id=kwargs.get("reservation_id"), token_type=token_type,
            )
            answer = started.authorization if token else None
            if event_type == "Started":
                samples = []
        elif token is not None:
            answer = await sessions.attach_token(self.charge_point_id, transaction_id, token,
                                                 token_type)

        final: ShownCost | None = None
        if event_type == "Ended":
            gap |= (await sessions.stop(
                self.charge_point_id, transaction_id, at, None,
                stop_reason_201(transaction_info.get("stopped_reason")), token, samples, seq_no,
            )).seq_gap
            final = await self._final_cost(transaction_id)
            if self._cost_sent is not None:
                self._cost_sent.pop(transaction_id, None)
        elif samples or event_type == "Updated":
            gap |= await sessions.meter(self.charge_point_id, evse.get("id"), transaction_id,
                                        samples, seq_no)
            if samples and not kwargs.get("offline"):
                self._cost_updated(transaction_id, at, energy_register_wh(samples))
        if gap:  # asked once our answer is out (see after_transaction_event)
            self._seq_gaps = (self._seq_gaps or frozenset()) | {transaction_id}
        return call_result.TransactionEvent(
            id_token_info=None if answer is None else _token_info(answer),
            # I03: the final cost; omitted (not free, merely unknown) without a tariff.
            total_cost=None if final is None else final.total,
            updated_personal_message=None if final is None else _cost_message(final))

    @after(Action.transaction_event)
    async def after_transaction_event(self, transaction_info: dict[str, Any],
                                      **kwargs: Any) -> None:
        transaction_id = transaction_info["transaction_id"]
        if self._seq_gaps and transaction_id in self._seq_gaps:
            self._seq_gaps -= {transaction_id}
            self.spawn(self.check_transaction(transaction_id))

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

    @on(Action.security_event_notification)
    async def on_security_event(self, **kwargs: Any) -> call_result.SecurityEventNotification:
        await self.security_event(kwargs)
        return call_result.SecurityEventNotification()

    @on(Action.data_transfer)
    async def on_data_transfer(self, **kwargs: Any) -> call_result.DataTransfer:
        return call_result.DataTransfer(status=await self.data_from_charger(kwargs))

    @on(Action.firmware_status_notification)
    async def on_firmware_status(self, status: str,
                                 **kwargs: Any) -> call_result.FirmwareStatusNotification:
        await job_status(self.services, self.charge_point_id, JobKind.FIRMWARE,
                         kwargs.get("request_id"), status)
        return call_result.FirmwareStatusNotification()

    @on(Action.log_status_notification)
    async def on_log_status(self, status: str,
                            **kwargs: Any) -> call_result.LogStatusNotification:
        await job_status(self.services, self.charge_point_id, JobKind.LOG,
                         kwargs.get("request_id"), status)
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
                           token_type: TokenType, profile: dict[str, Any] | None = None) -> str:
        # F01/K05: a TxProfile without transactionId, for the transaction it starts.
        return await self._status(call.RequestStartTransaction(
            id_token=_id_token(token_uid, token_type),
            remote_start_id=remote_start_id, evse_id=evse_number,
            charging_profile=wire.profile_201(profile_from_dict(profile)) if profile else None,
        ))

    async def remote_stop(self, transaction_id: str) -> str:
        return await self._status(call.RequestStopTransaction(transaction_id=transaction_id))

    async def unlock(self, evse_number: int) -> str:
        return await self._status(call.UnlockConnector(evse_id=evse_number, connector_id=1))

    async def reserve_now(self, evse_number: int | None, token_uid: str, reservation_id: int,
                          expires_at: datetime, token_type: TokenType,
                          connector_type: str | None = None, group: str | None = None) -> str:
        # No evseId: any EVSE (of connectorType, when given), H01.
        return await self._status(call.ReserveNow(
            id=reservation_id, expiry_date_time=format_timestamp(expires_at),
            id_token=_id_token(token_uid, token_type), evse_id=evse_number or None,
            connector_type=connector_type,
            group_id_token={"id_token": group, "type": "Central"} if group else None))

    async def cancel_reservation(self, reservation_id: int) -> str:
        return await self._status(call.CancelReservation(reservation_id=reservation_id))

    async def reset(self, hard: bool) -> str:
        return await self._status(call.Reset(type="Immediate" if hard else "OnIdle"))

    async def change_availability(self, evse_number: int, operative: bool,
                                  connector_number: int | None = None) -> str:
        evse: dict[str, int] | None = None
        if evse_number:
            evse = {"id": evse_number}
            if connector_number is not None:
                evse["connector_id"] = connector_number
        return await self._status(call.ChangeAvailability(
            operational_status="Operative" if operative else "Inoperative", evse=evse))

    async def trigger(self, message: str, evse_number: int | None) -> str:
        if self._registration not in (None, "Accepted"):  # B02.FR.01: a Pending charger may
            self._triggered |= {message}                  # send what we ask it for
        return await self._status(call.TriggerMessage(
            requested_message=message, evse={"id": evse_number} if evse_number else None,
        ))

    async def get_configuration(self, keys: list[str]) -> dict[str, Any]:
        """{"entries": neutral entries}; more variables than the charger's DeviceDataCtrlr
        ItemsPerMessage (GetVariables instance) are asked in batches of that many."""
        found = []
        size = await self._items_per_message("GetVariables") if len(keys) > 1 else None
        for batch in configuration.batches(keys, size):
            answer = await self.call(call.GetVariables(
                get_variable_data=[_component_variable(key) for key in batch]), suppress=False)
            # BasicAuthPassword is write-only: a charger that still reports it is masked.
            found += configuration.entries_201(answer.get_variable_result)
        return {"entries": [e.plain() for e in found]}

    _items_known: dict[str, int] | None = None

    async def _items_per_message(self, instance: str) -> int | None:
        """DeviceDataCtrlr.ItemsPerMessage[instance], asked once a connection; None: no limit said."""
        if self._items_known is None:
            try:
                answer = await self.call(call.GetVariables(get_variable_data=[
                    {"component": {"name": "DeviceDataCtrlr"},
                     "variable": {"name": "ItemsPerMessage", "instance": name}}
                    for name in ("GetVariables", "SetVariables")]), suppress=False)
            except OCPPError:  # a firmware that cannot say: no limit we know of
                self._items_known = {}
                return None
            self._items_known = {
                r["variable"].get("instance", ""): int(r["attribute_value"])
                for r in answer.get_variable_result
                if r["attribute_status"] == "Accepted"
                and str(r.get("attribute_value", "")).isdigit()}
        return self._items_known.get(instance) or None

    async def change_configuration(self, key: str, value: str) -> str:
        answer = await self.call(call.SetVariables(set_variable_data=[
            {"attribute_value": value, **_component_variable(key)}]), suppress=False)
        return str(answer.set_variable_result[0]["attribute_status"])

    async def set_password(self, password: str) -> str:
        return await self.change_configuration("SecurityCtrlr.BasicAuthPassword", password)

    async def set_meter_interval(self, seconds: int) -> str:
        return await self.change_configuration("SampledDataCtrlr.TxUpdatedInterval", str(seconds))

    # --- local authorization list (D01-D04) ----------------------------------------------------

    async def local_list_support(self) -> LocalListSupport:
        answer = await self.call(call.GetVariables(get_variable_data=[
            _component_variable(key) for key in local_list.VARIABLES_201]), suppress=False)
        return local_list.support_201(answer.get_variable_result)

    async def get_local_list_version(self) -> int:
        answer = await self.call(call.GetLocalListVersion(), suppress=False)
        return int(answer.version_number)

    async def send_local_list(self, version: int, full: bool,
                              changes: list[tuple[str, Entry | None]]) -> str:
        return await self._status(call.SendLocalList(
            version_number=version, update_type="Full" if full else "Differential",
            local_authorization_list=[local_list.entry_201(uid, entry)
                                      for uid, entry in changes] or None))

    async def check_transaction(self, transaction_id: str) -> None:
        """E14: events of the transaction are missing (a seqNo gap, e.g. in what the charger
        queued offline): are they still queued on the charger, or lost? The answer is kept for
        the operator (GET …/reports?kind=TransactionStatus)."""
        try:
            answer = await self.call(call.GetTransactionStatus(transaction_id=transaction_id),
                                     suppress=False)
        except Exception as exc:  # the charger may be gone again: the next gap asks anew
            self.log.warning("transaction status not known", transaction_id=transaction_id,
                             error=repr(exc))
            return
        status = {"transaction_id": transaction_id, "ongoing": answer.ongoing_indicator,
                  "messages_in_queue": answer.messages_in_queue}
        if not answer.messages_in_queue:
            self.log.warning("transaction events lost", **status)
        await self.report("TransactionStatus", status)

    # --- a session's cost for the driver's display (block I: I02 running, I03 final) ---------

    async def _final_cost(self, transaction_id: str) -> ShownCost | None:
        costs = self.services.costs
        if costs is None:
            return None
        try:
            return await costs.final(self.charge_point_id, transaction_id)
        # A tariff, zone or times the cost function refuses: the Ended event is answered all the same.
        except (ValueError, LookupError) as error:
            self.log.warning("session not costed", transaction_id=transaction_id, error=str(error))
            return None

    def _cost_updated(self, transaction_id: str, at: datetime, energy_wh: float | None) -> None:
        """I02: CostUpdated with the cost so far, at most once per cost_updated_interval."""
        if self.services.costs is None or self._cost_refused:
            return
        if self._cost_sent is None:
            self._cost_sent = {}
        sent = self._cost_sent
        now = time.monotonic()
        last = sent.get(transaction_id)
        if last is not None and now - last < self.services.settings.cost_updated_interval:
            return
        sent[transaction_id] = now
        self.spawn(self._send_cost(transaction_id, at, energy_wh))

    async def _send_cost(self, transaction_id: str, at: datetime, energy_wh: float | None) -> None:
        assert self.services.costs is not None
        try:
            cost = await self.services.costs.so_far(self.charge_point_id, transaction_id, at,
                                                    energy_wh)
        except (ValueError, LookupError) as error:
            self.log.warning("session not costed", transaction_id=transaction_id, error=str(error))
            return
        if cost is None:
            return
        try:
            await self.call(call.CostUpdated(total_cost=cost.total, transaction_id=transaction_id),
                            suppress=False)
        except OCPPError as error:
            # A station without a display (block I is optional): asked no more on this connection.
            self._cost_refused = True
            self.log.info("CostUpdated refused", code=error.code)
        except (TimeoutError, ConnectionClosed):  # the session's next meter values try again
            self.log.info("CostUpdated not answered", transaction_id=transaction_id)

    async def set_configuration(self, values: dict[str, str]) -> dict[str, str]:
        """In batches of the charger's DeviceDataCtrlr ItemsPerMessage (SetVariables instance)."""
        found: dict[str, str] = {}
        size = await self._items_per_message("SetVariables") if len(values) > 1 else None
        for batch in configuration.batches(list(values), size):
            answer = await self.call(call.SetVariables(set_variable_data=[
                {"attribute_value": values[key], **_component_variable(key)} for key in batch]),
                suppress=False)
            found.update({configuration.key_201(r["component"], r["variable"]):
                          str(r["attribute_status"]) for r in answer.set_variable_result})
        return found

    async def update_firmware(self, request_id: int, location: str, retrieve_at: datetime,
                              install_at: datetime | None, retries: int | None,
                              retry_interval: int | None, signing_certificate: str | None,
                              signature: str | None) -> dict[str, Any]:
        answer = await self.call(call.UpdateFirmware(
            request_id=request_id, retries=retries, retry_interval=retry_interval,
            firmware={"location": location, "retrieve_date_time": format_timestamp(retrieve_at),
                      "install_date_time": format_timestamp(install_at) if install_at else None,
                      "signing_certificate": signing_certificate, "signature": signature}),
            suppress=False)
        return request_answer(str(answer.status))

    async def get_log(self, request_id: int, log_type: str, location: str,
                      oldest: datetime | None, latest: datetime | None, retries: int | None,
                      retry_interval: int | None) -> dict[str, Any]:
        answer = await self.call(call.GetLog(
            log_type="SecurityLog" if log_type == LogType.SECURITY else "DiagnosticsLog",
            request_id=request_id, retries=retries, retry_interval=retry_interval,
            log={"remote_location": location,
                 "oldest_timestamp": format_timestamp(oldest) if oldest else None,
                 "latest_timestamp": format_timestamp(latest) if latest else None}),
            suppress=False)
        return request_answer(str(answer.status), answer.filename)

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

    async def set_security_profile(self, profile: int, csms_url: str = "",
                                   interface: str = "Wired0") -> str:
        """A05: SecurityCtrlr.SecurityProfile is read-only, so a new network connection profile
        (our wss:// URL, the new profile) goes in a slot other than the one in use and is put first
        in NetworkConfigurationPriority; the charger connects with it after the reset."""
        if profile < 2 or not csms_url:
            raise BadCommand("a 2.0.1 charger is moved to profile 2 or 3 with the wss:// URL it "
                             "is to use: set ocpp.public_tls_url")
        answer = await self.call(call.GetVariables(get_variable_data=[
            _component_variable(network_profile.PRIORITY)]), suppress=False)
        found = answer.get_variable_result[0]
        current = found.get("attribute_value") if found["attribute_status"] == "Accepted" else None
        slot = network_profile.next_slot(current)
        status = await self._status(call.SetNetworkProfile(
            configuration_slot=slot, connection_data=network_profile.connection_data(
                csms_url, profile, interface, NETWORK_MESSAGE_TIMEOUT)))
        if status != "Accepted":
            return status
        return await self.change_configuration(network_profile.PRIORITY,
                                               network_profile.prioritized(slot, current))

    async def renew_certificate(self, use: str) -> str:
        """A02: the charger makes a new key and sends its CSR."""
        message = {CertificateUse.CHARGING_STATION: "SignChargingStationCertificate",
                   CertificateUse.V2G: "SignV2GCertificate"}.get(CertificateUse(use))
        if message is None:
            return "NotSupported"
        return await self._status(call.TriggerMessage(requested_message=message))
