"""A simulated OCPP 2.0.1 charging station (EVSE n has connector 1)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from ocpp import exceptions
from ocpp.exceptions import OccurrenceConstraintViolationError
from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action

from simulators.chargepoint import (
    SimConfig,
    SimulatedChargePoint,
    Transaction,
    log_statuses,
    now_z,
    parse_z,
    replace_offline,
)
from simulators.device_model201 import DeviceModel, DeviceModelFirmware, station_variables
from simulators.network_profiles import PRIORITY, NetworkProfiles
from simulators.smart_charging import Held

# 1.6-style statuses the tests use, as 2.0.1 connector statuses.
_CONNECTOR_STATUS = {
    "Available": "Available", "Preparing": "Occupied", "Charging": "Occupied",
    "SuspendedEV": "Occupied", "SuspendedEVSE": "Occupied", "Finishing": "Occupied",
    "Occupied": "Occupied", "Reserved": "Reserved", "Unavailable": "Unavailable",
    "Faulted": "Faulted",
}


class _Client(ChargePoint, DeviceModelFirmware):
    def __init__(self, sim: ChargePoint201, websocket: Any) -> None:
        super().__init__(sim.config.charge_point_id, websocket, response_timeout=10)
        self.sim = sim

    async def _handle_call(self, msg: Any) -> Any:
        self.sim.received(msg.action, msg.payload)
        return await super()._handle_call(msg)

    @on(Action.request_start_transaction)
    async def on_request_start(self, id_token: dict[str, Any], remote_start_id: int,
                               **kwargs: Any) -> call_result.RequestStartTransaction:
        evse = kwargs.get("evse_id") or 1
        if evse not in self.sim.meter_wh or evse in self.sim.transactions \
                or not self.sim.may_start(evse, id_token["id_token"]):
            return call_result.RequestStartTransaction(status="Rejected")
        profile = kwargs.get("charging_profile")
        if profile is not None and (profile["charging_profile_purpose"] != "TxProfile"
                                    or "transaction_id" in profile):
            return call_result.RequestStartTransaction(status="Rejected")  # F01/K05
        tx = Transaction(token=id_token["id_token"], transaction_id=str(uuid.uuid4()),
                         remote_start_id=remote_start_id)
        self.sim.transactions[evse] = tx
        if profile is not None:  # K05: used for the transaction it starts
            self.sim.profiles.set(evse, {**profile, "transaction_id": tx.transaction_id}, True)
        self.sim.spawn(self.sim.begin_transaction(evse, id_token, "RemoteStart"))
        return call_result.RequestStartTransaction(status="Accepted")

    @on(Action.request_stop_transaction)
    async def on_request_stop(self, transaction_id: str,
                              **kwargs: Any) -> call_result.RequestStopTransaction:
        evse = self.sim.connector_of(transaction_id)
        if evse is None:
            return call_result.RequestStopTransaction(status="Rejected")
        self.sim.spawn(self.sim.stop_local_session(evse, "Remote"))
        return call_result.RequestStopTransaction(status="Accepted")

    @on(Action.set_variables)
    async def on_set_variables(self, set_variable_data: list[dict[str, Any]],
                               **kwargs: Any) -> call_result.SetVariables:
        self._within_items(set_variable_data, "SetVariables")
        results = []
        for item in set_variable_data:
            key = f"{item['component']['name']}.{item['variable']['name']}"
            accepted = self.sim.configure(key, item["attribute_value"])
            self.sim.device.write(item, accepted)
            results.append({"attribute_status": "Accepted" if accepted else "Rejected",
                            "component": item["component"], "variable": item["variable"]})
        return call_result.SetVariables(set_variable_result=results)

    @on(Action.get_variables)
    async def on_get_variables(self, get_variable_data: list[dict[str, Any]],
                               **kwargs: Any) -> call_result.GetVariables:
        self._within_items(get_variable_data, "GetVariables")
        results = []
        for item in get_variable_data:
            key = f"{item['component']['name']}.{item['variable']['name']}"
            instance = item["variable"].get("instance")
            value = self.sim.device.read(item) or self.sim.settings.get(
                f"{key}[{instance}]" if instance else key)
            if key == "DeviceDataCtrlr.ItemsPerMessage" and self.sim.config.max_keys:
                value = str(self.sim.config.max_keys)
            results.append({"attribute_status": "Accepted" if value is not None else "UnknownVariable",
                            "attribute_type": item.get("attribute_type") or "Actual",
                            "component": item["component"], "variable": item["variable"],
                            **({"attribute_value": value} if value is not None else {})})
        return call_result.GetVariables(get_variable_result=results)

    def _within_items(self, items: list[Any], instance: str) -> None:
        limit = self.sim.config.max_keys
        if limit is not None and len(items) > limit:
            raise OccurrenceConstraintViolationError(
                description=f"at most {limit} items (DeviceDataCtrlr.ItemsPerMessage {instance})")

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, **kwargs: Any) -> call_result.DataTransfer:
        return call_result.DataTransfer(**self.sim.vendor_data(vendor_id, kwargs.get("data")))

    @on(Action.set_charging_profile)
    async def on_set_charging_profile(self, evse_id: int, charging_profile: dict[str, Any]
                                      ) -> call_result.SetChargingProfile:
        self.sim.smart_charging_offered()
        await self.sim.profile_turn()
        return call_result.SetChargingProfile(status=self.sim.profiles.set(
            evse_id, charging_profile, evse_id in self.sim.transactions))

    @after(Action.set_charging_profile)
    async def after_set_charging_profile(self, evse_id: int, charging_profile: dict[str, Any],
                                         **kwargs: Any) -> None:
        held = self.sim.profiles.held.get(charging_profile["id"])
        if self.sim.config.iso15118 and held is not None and held.purpose == "tx" \
                and held.raw == charging_profile:  # this TxProfile, accepted
            # K17: the car computes its schedule from the new profile and says it.
            limit = self.sim.profiles.limit(evse_id, datetime.now(UTC), "A")
            self.sim.spawn(self.sim.notify_ev_charging_schedule(evse_id, limit))

    @on(Action.get_charging_profiles)
    async def on_get_charging_profiles(self, request_id: int, charging_profile: dict[str, Any],
                                       **kwargs: Any) -> call_result.GetChargingProfiles:
        """K09: Accepted and its profiles in ReportChargingProfiles (one per EVSE, tbc on all
        but the last), or NoProfiles."""
        self.sim.smart_charging_offered()
        found = self.sim.profiles.matching(kwargs.get("evse_id"), charging_profile)
        if not found:
            return call_result.GetChargingProfiles(status="NoProfiles")
        self.sim.spawn(self.sim.report_charging_profiles(request_id, found))
        return call_result.GetChargingProfiles(status="Accepted")

    @on(Action.clear_charging_profile)
    async def on_clear_charging_profile(self, **kwargs: Any) -> call_result.ClearChargingProfile:
        self.sim.smart_charging_offered()
        criteria = kwargs.get("charging_profile_criteria") or {}
        return call_result.ClearChargingProfile(status=self.sim.profiles.clear(
            kwargs.get("charging_profile_id"), criteria.get("evse_id"),
            criteria.get("charging_profile_purpose"), criteria.get("stack_level")))

    @on(Action.get_composite_schedule)
    async def on_get_composite_schedule(self, duration: int, evse_id: int, **kwargs: Any
                                        ) -> call_result.GetCompositeSchedule:
        self.sim.smart_charging_offered()
        if evse_id > self.sim.config.connectors:
            return call_result.GetCompositeSchedule(status="Rejected")
        found = self.sim.profiles.composite(evse_id, duration, kwargs.get("charging_rate_unit"))
        return call_result.GetCompositeSchedule(status="Accepted", schedule={
            "evse_id": evse_id, "duration": duration, "schedule_start": found["start"],
            "charging_rate_unit": found["unit"], "charging_schedule_period": found["periods"]})

    @on(Action.clear_cache)
    async def on_clear_cache(self, **kwargs: Any) -> call_result.ClearCache:
        self.sim.cache_cleared += 1
        return call_result.ClearCache(status="Accepted")

    @on(Action.reset)
    async def on_reset(self, type: str, **kwargs: Any) -> call_result.Reset:
        return call_result.Reset(status="Accepted")

    @after(Action.reset)
    async def after_reset(self, **kwargs: Any) -> None:
        self.sim.spawn(self.sim.rebooted())

    @on(Action.unlock_connector)
    async def on_unlock(self, evse_id: int, connector_id: int,
                        **kwargs: Any) -> call_result.UnlockConnector:
        return call_result.UnlockConnector(status="Unlocked")

    @on(Action.change_availability)
    async def on_change_availability(self, operational_status: str,
                                     **kwargs: Any) -> call_result.ChangeAvailability:
        # EVSE n has one connector (1): an EVSE or its connector changes alike.
        evse = kwargs.get("evse") or {}
        if evse.get("connector_id", 1) != 1:
            return call_result.ChangeAvailability(status="Rejected")
        numbers = [evse["id"]] if evse.get("id") else list(self.sim.meter_wh)
        return call_result.ChangeAvailability(
            status=self.sim.change_availability(numbers, operational_status == "Operative"))

    @on(Action.trigger_message)
    async def on_trigger(self, requested_message: str,
                         **kwargs: Any) -> call_result.TriggerMessage:
        actions: dict[str, Callable[[], Awaitable[Any]]] = {
            "BootNotification": self.sim.boot, "Heartbeat": self.sim.heartbeat,
            "StatusNotification": self.sim.report_statuses,
            "SignChargingStationCertificate": self.sim.request_certificate}
        if requested_message not in actions:
            return call_result.TriggerMessage(status="NotImplemented")
        self.sim.spawn(actions[requested_message]())
        return call_result.TriggerMessage(status="Accepted")

    @on(Action.get_transaction_status)
    async def on_get_transaction_status(self, **kwargs: Any
                                        ) -> call_result.GetTransactionStatus:
        # E14: whether it is still going, and whether messages about it wait in our queue.
        transaction_id = kwargs.get("transaction_id")
        queued = any(isinstance(payload, call.TransactionEvent) and (
            transaction_id is None or payload.transaction_info["transaction_id"] == transaction_id)
            for payload in self.sim.queued())
        if transaction_id is None:
            return call_result.GetTransactionStatus(messages_in_queue=queued)
        return call_result.GetTransactionStatus(
            messages_in_queue=queued,
            ongoing_indicator=self.sim.connector_of(transaction_id) is not None)

    @on(Action.reserve_now)
    async def on_reserve_now(self, id: int, expiry_date_time: str, id_token: dict[str, Any],
                             **kwargs: Any) -> call_result.ReserveNow:
        group = (kwargs.get("group_id_token") or {}).get("id_token")
        return call_result.ReserveNow(status=self.sim.reserve(
            id, kwargs.get("evse_id") or 0, id_token["id_token"], group,
            kwargs.get("connector_type"), parse_z(expiry_date_time)))

    @on(Action.get_local_list_version)
    async def on_get_local_list_version(self, **kwargs: Any) -> call_result.GetLocalListVersion:
        return call_result.GetLocalListVersion(version_number=self.sim.local_list_version)

    @on(Action.send_local_list)
    async def on_send_local_list(self, version_number: int, update_type: str,
                                 **kwargs: Any) -> call_result.SendLocalList:
        entries = [(item["id_token"]["id_token"], _list_info(item.get("id_token_info")))
                   for item in kwargs.get("local_authorization_list") or []]
        return call_result.SendLocalList(status=self.sim.apply_local_list(
            version_number, update_type == "Full", entries))

    @on(Action.cancel_reservation)
    async def on_cancel_reservation(self, reservation_id: int,
                                    **kwargs: Any) -> call_result.CancelReservation:
        return call_result.CancelReservation(status=self.sim.cancel_reservation(reservation_id))

    @on(Action.cost_updated)
    async def on_cost_updated(self, total_cost: float, transaction_id: str,
                              **kwargs: Any) -> call_result.CostUpdated:
        # A station with a display shows the running cost (I02); one without answers NotImplemented.
        if not self.sim.display:
            raise exceptions.NotImplementedError(description="no display")
        self.sim.displayed_costs.setdefault(transaction_id, []).append(total_cost)
        return call_result.CostUpdated()


    @on(Action.update_firmware)
    async def on_update_firmware(self, request_id: int, firmware: dict[str, Any],
                                 **kwargs: Any) -> call_result.UpdateFirmware:
        if self.sim.config.firmware_outcome == "Rejected":
            return call_result.UpdateFirmware(status="Rejected")
        return call_result.UpdateFirmware(status=self.sim.firmware_job(
            firmware["location"], True, lambda status: self.sim.call(
                call.FirmwareStatusNotification(status=status, request_id=request_id))))

    @on(Action.get_log)
    async def on_get_log(self, log: dict[str, Any], log_type: str, request_id: int,
                         **kwargs: Any) -> call_result.GetLog:
        if self.sim.config.log_outcome == "Rejected":
            return call_result.GetLog(status="Rejected")
        self.sim.run_job(log_statuses(self.sim.config.log_outcome, core=False),
                         lambda status: self.sim.call(
                             call.LogStatusNotification(status=status, request_id=request_id)))
        return call_result.GetLog(status="Accepted",
                                  filename=f"{self.sim.config.charge_point_id}-{log_type}.log")



    # --- certificates (A02/A03, M block) ------------------------------------------------------

    @on(Action.certificate_signed)
    async def on_certificate_signed(self, certificate_chain: str,
                                    **kwargs: Any) -> call_result.CertificateSigned:
        return call_result.CertificateSigned(status=self.sim.certificates.signed(certificate_chain))

    @on(Action.install_certificate)
    async def on_install_certificate(self, certificate_type: str, certificate: str,
                                     **kwargs: Any) -> call_result.InstallCertificate:
        status = self.sim.certificates.install(certificate_type, certificate)
        return call_result.InstallCertificate(status=status)

    @on(Action.get_installed_certificate_ids)
    async def on_get_installed(self, **kwargs: Any) -> call_result.GetInstalledCertificateIds:
        found = self.sim.certificates.installed(kwargs.get("certificate_type"))
        chain = [{"certificate_type": kind, "certificate_hash_data": data} for kind, data in found]
        return call_result.GetInstalledCertificateIds(
            status="Accepted" if chain else "NotFound", certificate_hash_data_chain=chain or None)

    @on(Action.set_network_profile)
    async def on_set_network_profile(self, configuration_slot: int, connection_data: dict[str, Any],
                                     **kwargs: Any) -> call_result.SetNetworkProfile:
        return call_result.SetNetworkProfile(
            status=self.sim.set_network_profile(configuration_slot, connection_data))

    @on(Action.delete_certificate)
    async def on_delete_certificate(self, certificate_hash_data: dict[str, str],
                                    **kwargs: Any) -> call_result.DeleteCertificate:
        return call_result.DeleteCertificate(
            status=self.sim.certificates.delete(certificate_hash_data))


class ChargePoint201(SimulatedChargePoint):
    subprotocol = "ocpp2.0.1"

    def configure(self, key: str, value: str) -> bool:
        if key == "SecurityCtrlr.SecurityProfile":
            return False  # read-only in 2.0.1: a new network profile raises it (A05)
        if key == PRIORITY:
            if not self.network_profiles.reorder(value):
                return False
        return super().configure(key, value)

    def set_network_profile(self, slot: int, data: dict[str, Any]) -> str:
        return self.network_profiles.set(slot, data, self.config.security_profile,
                                         self.certificates.chain_file is not None)

    async def rebooted(self) -> None:
        """The first profile of the priority is the one it connects with after the reset."""
        first = self.network_profiles.first()
        if first["security_profile"] > self.config.security_profile:
            self.pending_profile = first["security_profile"]
            self.config.tls_url = first["ocpp_csms_url"]
            self.device.write({"component": {"name": "SecurityCtrlr"},
                               "variable": {"name": "SecurityProfile"},
                               "attribute_value": str(first["security_profile"])}, True)
        await super().rebooted()

    def sign_certificate_payload(self, csr: str, use: str | None) -> Any:
        return call.SignCertificate(csr=csr,
                                    certificate_type=use or "ChargingStationCertificate")

    def __init__(self, config: SimConfig) -> None:
        super().__init__(config)
        self.charging_states: dict[int, str] = {}  # TransactionEvent chargingState, per EVSE
        if config.local_list:
            self.settings.update({
                "LocalAuthListCtrlr.Enabled": "true", "LocalAuthListCtrlr.Available": "true",
                "AuthCtrlr.LocalAuthorizeOffline": "true",
                "LocalAuthListCtrlr.ItemsPerMessage": str(config.local_list_per_message),
                "LocalAuthListCtrlr.Entries": str(config.local_list_max)})
        # What the display showed, per transaction: each CostUpdated's totalCost, then the final
        # totalCost and personal message of the Ended event's answer.
        self.displayed_costs: dict[str, list[float]] = {}
        self.display = True  # False: CostUpdated is not implemented (block I is optional)
        self.final_costs: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self.device = DeviceModel(station_variables(config.connectors, config.vendor,
                                                    config.model, config.firmware))
        self.network_profiles = NetworkProfiles(config.url, config.security_profile)
        self.settings[PRIORITY] = self.network_profiles.value()
        self.ev_answers: list[tuple[str, str]] = []  # ISO 15118 messages and the CSMS's answers
        self.external_ids = 0  # external limits held so far (their profile ids follow 100000)

    def make_client(self, websocket: Any) -> _Client:
        return _Client(self, websocket)

    def offline_copy(self, payload: Any) -> Any:
        return replace_offline(payload) if isinstance(payload, call.TransactionEvent) else payload

    async def boot(self) -> None:
        station: dict[str, Any] = {"model": self.config.model, "vendor_name": self.config.vendor,
                                   "firmware_version": self.config.firmware}
        if self.config.serial:
            station["serial_number"] = self.config.serial
        answer = await self.call(call.BootNotification(charging_station=station,
                                                       reason="PowerUp"))
        self.boot_status = answer.status
        self.csms_heartbeat_interval = float(answer.interval or 300)

    async def heartbeat(self) -> None:
        await self.call(call.Heartbeat())

    async def reservation_expired(self, reservation_id: int) -> None:
        await self.call(call.ReservationStatusUpdate(reservation_id=reservation_id,
                                                     reservation_update_status="Expired"))

    async def set_status(self, connector: int, status: str, error_code: str = "NoError") -> None:
        await self.call(call.StatusNotification(
            timestamp=now_z(), connector_status=_CONNECTOR_STATUS.get(status, status),
            evse_id=connector, connector_id=1))

    async def report_statuses(self) -> None:
        for evse in self.meter_wh:
            await self.set_status(evse, "Occupied" if evse in self.transactions
                                  else "Unavailable" if evse in self.inoperative else "Available")

    def _meter_value(self, evse: int, context: str) -> list[dict[str, Any]]:
        energy = {"value": self.meter_wh[evse], "context": context,
                  "measurand": "Energy.Active.Import.Register", "unit_of_measure": {"unit": "Wh"}}
        if context != "Sample.Periodic":
            return [{"timestamp": now_z(), "sampled_value": [energy]}]
        return [{"timestamp": now_z(), "sampled_value": [
            energy,
            {"value": round(self.drawn_w(evse)), "context": context, "measurand": "Power.Active.Import",
             "unit_of_measure": {"unit": "W"}},
            {"value": round(self.drawn_amps(evse), 1), "context": context,
             "measurand": "Current.Import", "phase": "L1", "unit_of_measure": {"unit": "A"}},
            {"value": 50, "context": context, "measurand": "SoC", "location": "EV",
             "unit_of_measure": {"unit": "Percent"}},
        ]}]

    def _event(self, evse: int, event_type: str, trigger: str, context: str | None,
               **extra: Any) -> call.TransactionEvent:
        tx = self.transactions[evse]
        info: dict[str, Any] = {"transaction_id": tx.transaction_id}
        if event_type == "Started" and tx.remote_start_id is not None:
            info["remote_start_id"] = tx.remote_start_id
        info.update(extra.pop("info", {}))
        event = call.TransactionEvent(
            event_type=event_type, timestamp=now_z(), trigger_reason=trigger, seq_no=tx.seq_no,
            transaction_info=info, evse={"id": evse, "connector_id": 1},
            meter_value=self._meter_value(evse, context) if context else None, **extra)
        tx.seq_no += 1
        return event

    def meter_payload(self, connector: int) -> Any:
        return self._event(connector, "Updated", "MeterValuePeriodic", "Sample.Periodic",
                           info={"charging_state": self.charging_states.get(connector, "Charging")})

    async def charging_changed(self, connector: int, drawing: bool) -> None:
        self.charging_states[connector] = "Charging" if drawing else "SuspendedEV"

    async def authorize(self, id_tag: str) -> str:
        answer = await self.call(call.Authorize(id_token={"id_token": id_tag, "type": "ISO14443"}))
        self.token_groups[id_tag] = (answer.id_token_info.get("group_id_token")
                                     or {}).get("id_token")
        return str(answer.id_token_info["status"])

    async def begin_transaction(self, evse: int, id_token: dict[str, Any], trigger: str) -> str:
        tx = self.transactions[evse]
        tx.group = self.token_groups.get(id_token["id_token"])
        self.charging_states[evse] = "Charging" if self.draws_energy(1) else "EVConnected"
        answered = self.enqueue(self._event(
            evse, "Started", trigger, "Transaction.Begin", id_token=id_token,
            info={"charging_state": self.charging_states[evse]},
            reservation_id=self.use_reservation(evse, id_token["id_token"])))

        def grouped(done: Any) -> None:  # the answer names the token's group
            info = getattr(done.result(), "id_token_info", None) or {}
            if info.get("group_id_token"):
                tx.group = info["group_id_token"]["id_token"]
        answered.add_done_callback(grouped)
        self.start_metering(evse)
        if self.connected.is_set():
            await self.flush()  # online, the CSMS knows the transaction when we return
            await self.set_status(evse, "Occupied")
            if self.config.iso15118:  # K15: the car says what it needs
                self.spawn(self.notify_ev_charging_needs(evse))
        assert tx.transaction_id is not None
        return tx.transaction_id

    async def start_local_session(self, connector: int, id_tag: str) -> str:
        online = self.connected.is_set()  # offline: LocalAuthorizeOffline, by the local list
        status = await self.authorize(id_tag) if online else self.local_authorization(id_tag)
        if status != "Accepted":
            raise RuntimeError(f"token {id_tag} not accepted: {status}")
        if not self.may_start(connector, id_tag):
            raise RuntimeError(f"EVSE {connector} is held for another token")
        self.transactions[connector] = Transaction(token=id_tag, transaction_id=str(uuid.uuid4()))
        return await self.begin_transaction(
            connector, {"id_token": id_tag, "type": "ISO14443"}, "Authorized")

    async def stop_local_session(self, connector: int, reason: str = "Local",
                                 stopped_by: str | None = None) -> None:
        if connector not in self.transactions:
            return
        trigger = "RemoteStop" if reason == "Remote" else "StopAuthorized"
        # C01: the Ended event names the token that stopped it, when another than the starter.
        extra = {"id_token": {"id_token": stopped_by, "type": "ISO14443"}} if stopped_by else {}
        event = self._event(connector, "Ended", trigger, "Transaction.End",
                            info={"stopped_reason": reason, "charging_state": "Idle"}, **extra)
        self.stop_metering(connector)
        self.enqueue(event).add_done_callback(
            lambda answered: self._show_final_cost(event.transaction_info["transaction_id"], answered))
        if self.connected.is_set():
            self.spawn(self.set_status(connector, self.after_transaction(connector)))

    def _show_final_cost(self, transaction_id: str, answered: asyncio.Future[Any]) -> None:
        answer = None if answered.cancelled() else answered.result()
        if answer is not None and answer.total_cost is not None:
            self.final_costs[transaction_id] = (answer.total_cost, answer.updated_personal_message)


    # --- smart charging the charger starts (2.0.1 K09, K11-K17) ---------------------------

    async def report_charging_profiles(self, request_id: int, found: list[Held]) -> None:
        """K09: one ReportChargingProfiles per EVSE, tbc on all but the last."""
        by_evse: dict[tuple[int, str], list[dict[str, Any]]] = {}
        for held in found:  # one report names one EVSE and one source
            by_evse.setdefault((held.evse, held.source), []).append(held.raw)
        for index, ((evse, source), profiles) in enumerate(sorted(by_evse.items())):
            await self.call(call.ReportChargingProfiles(
                request_id=request_id, charging_limit_source=source, evse_id=evse,
                charging_profile=profiles, tbc=index < len(by_evse) - 1))

    async def notify_charging_limit(self, source: str, limit: float | None = None,
                                    evse: int | None = None, unit: str = "A",
                                    duration: int | None = None,
                                    grid_critical: bool | None = None) -> None:
        """K11/K12: an external system (EMS, SO, Other) limits the charger or one EVSE: held as a
        ChargingStationExternalConstraints profile (its draw keeps to it) and told of."""
        schedule = None
        if limit is not None:
            schedule = [{"id": 1, "charging_rate_unit": unit, "start_schedule": now_z(),
                         "duration": duration,
                         "charging_schedule_period": [{"start_period": 0, "limit": limit}]}]
            self.external_ids += 1
            self.profiles.external(evse or 0, source, {
                "id": 100000 + self.external_ids, "stack_level": 0,
                "charging_profile_purpose": "ChargingStationExternalConstraints",
                "charging_profile_kind": "Absolute",
                "charging_schedule": [{k: v for k, v in schedule[0].items() if v is not None}]})
        await self.call(call.NotifyChargingLimit(
            charging_limit={"charging_limit_source": source, "is_grid_critical": grid_critical},
            charging_schedule=schedule, evse_id=evse))

    async def cleared_charging_limit(self, source: str, evse: int | None = None) -> None:
        """K13: the external limit is gone."""
        self.profiles.external(evse or 0, source, None)
        await self.call(call.ClearedChargingLimit(charging_limit_source=source, evse_id=evse))

    async def notify_ev_charging_needs(self, evse: int) -> str:
        """K15: the car's AC needs; the CSMS's answer is kept in ev_answers."""
        answer = await self.call(call.NotifyEVChargingNeeds(evse_id=evse, charging_needs={
            "requested_energy_transfer": "AC_three_phase",
            "departure_time": (datetime.now(UTC) + timedelta(hours=4)).isoformat(),
            "ac_charging_parameters": {
                "energy_amount": 20000, "ev_min_current": self.config.ev_min_amps,
                "ev_max_current": self.config.ev_max_amps, "ev_max_voltage": 400}}))
        self.ev_answers.append(("NotifyEVChargingNeeds", str(answer.status)))
        return str(answer.status)

    async def notify_ev_charging_schedule(self, evse: int, amps: float) -> str:
        """K17: the schedule the car computed (ev_schedule_amps, when set, instead of `amps`)."""
        limit = self.config.ev_schedule_amps if self.config.ev_schedule_amps is not None else amps
        answer = await self.call(call.NotifyEVChargingSchedule(
            time_base=now_z(), evse_id=evse, charging_schedule={
                "id": 1, "charging_rate_unit": "A",
                "charging_schedule_period": [{"start_period": 0, "limit": limit}]}))
        self.ev_answers.append(("NotifyEVChargingSchedule", str(answer.status)))
        return str(answer.status)


def _list_info(info: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if info is None else {"status": info["status"],
                                      "expiry": info.get("cache_expiry_date_time")}
