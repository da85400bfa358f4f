"""A simulated OCPP 1.6J charge point."""

from __future__ import annotations

import contextlib
from typing import Any

from ocpp.exceptions import OccurenceConstraintViolationError, OCPPError
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action
from websockets.exceptions import ConnectionClosed

from simulators.chargepoint import (
    SimulatedChargePoint,
    Transaction,
    log_statuses,
    now_z,
    parse_z,
)


class _Client(ChargePoint):
    """The ocpp library's client side; every call from the CSMS goes to the simulator."""

    def __init__(self, sim: ChargePoint16, websocket: Any) -> None:
        super().__init__(sim.config.charge_point_id, websocket, response_timeout=10)
        self.sim = sim

    async def _handle_call(self, msg: Any) -> Any:
        self.sim.received(msg.action, msg.payload)
        return await super()._handle_call(msg)

    @on(Action.remote_start_transaction)
    async def on_remote_start(self, id_tag: str, **kwargs: Any) -> call_result.RemoteStartTransaction:
        connector = kwargs.get("connector_id") or 1
        if connector not in self.sim.meter_wh or connector in self.sim.transactions \
                or not self.sim.may_start(connector, id_tag):
            return call_result.RemoteStartTransaction(status="Rejected")
        profile = kwargs.get("charging_profile")
        if profile is not None and (profile["charging_profile_purpose"] != "TxProfile"
                                    or "transaction_id" in profile):
            return call_result.RemoteStartTransaction(status="Rejected")  # §5.16
        self.sim.transactions[connector] = Transaction(token=id_tag)
        if profile is not None:  # for the transaction it starts
            self.sim.profiles.set(connector, profile, True)
        self.sim.spawn(self.sim.begin_transaction(connector, id_tag))
        return call_result.RemoteStartTransaction(status="Accepted")

    @on(Action.remote_stop_transaction)
    async def on_remote_stop(self, transaction_id: int) -> call_result.RemoteStopTransaction:
        connector = self.sim.connector_of(str(transaction_id))
        if connector is None:
            return call_result.RemoteStopTransaction(status="Rejected")
        self.sim.spawn(self.sim.stop_local_session(connector, "Remote"))
        return call_result.RemoteStopTransaction(status="Accepted")

    @on(Action.change_configuration)
    async def on_change_configuration(self, key: str, value: str) -> call_result.ChangeConfiguration:
        return call_result.ChangeConfiguration(
            status="Accepted" if self.sim.configure(key, value) else "Rejected")

    @on(Action.get_configuration)
    async def on_get_configuration(self, **kwargs: Any) -> call_result.GetConfiguration:
        config = self.sim.config
        profiles = "Core,Reservation,RemoteTrigger" + (
            ",SmartCharging" if config.smart_charging else "") + (
            ",LocalAuthListManagement" if config.local_list else "")
        known = {"MeterValueSampleInterval": str(int(self.sim.csms_meter_interval)),
                 "HeartbeatInterval": str(int(self.sim.csms_heartbeat_interval)),
                 "NumberOfConnectors": str(config.connectors),
                 "SupportedFeatureProfiles": profiles,
                 **({"LocalAuthListEnabled": "true", "LocalAuthorizeOffline": "true",
                     "LocalAuthListMaxLength": str(config.local_list_max),
                     "SendLocalListMaxLength": str(config.local_list_per_message)}
                    if config.local_list else {}),
                 **self.sim.settings}
        limit = self.sim.config.max_keys
        if limit is not None:
            known["GetConfigurationMaxKeys"] = str(limit)
            if len(kwargs.get("key") or []) > limit:
                raise OccurenceConstraintViolationError(
                    description=f"at most {limit} keys (GetConfigurationMaxKeys)")
        wanted = kwargs.get("key") or list(known)
        return call_result.GetConfiguration(
            configuration_key=[{"key": k, "readonly": False, "value": known[k]}
                               for k in wanted if k in known],
            unknown_key=[k for k in wanted if k not in known] or None,
        )

    @on(Action.reset)
    async def on_reset(self, type: str) -> call_result.Reset:
        return call_result.Reset(status="Accepted")

    @after(Action.reset)
    async def after_reset(self, **kwargs: Any) -> None:
        self.sim.spawn(self.sim.rebooted())

    @on(Action.unlock_connector)
    async def on_unlock(self, connector_id: int) -> call_result.UnlockConnector:
        return call_result.UnlockConnector(status="Unlocked")

    @on(Action.change_availability)
    async def on_change_availability(self, connector_id: int,
                                     type: str) -> call_result.ChangeAvailability:
        connectors = [connector_id] if connector_id else list(self.sim.meter_wh)
        return call_result.ChangeAvailability(
            status=self.sim.change_availability(connectors, type == "Operative"))

    @on(Action.trigger_message)
    async def on_trigger(self, requested_message: str, **kwargs: Any) -> call_result.TriggerMessage:
        connector = kwargs.get("connector_id")
        actions = {
            "BootNotification": self.sim.boot,
            "Heartbeat": self.sim.heartbeat,
            "StatusNotification": self.sim.report_statuses,
            "MeterValues": lambda: self.sim.send_meter_now(connector or 1),
        }
        if requested_message not in actions:
            return call_result.TriggerMessage(status="NotImplemented")
        self.sim.spawn(actions[requested_message]())
        return call_result.TriggerMessage(status="Accepted")

    @on(Action.reserve_now)
    async def on_reserve_now(self, connector_id: int, id_tag: str, reservation_id: int,
                             **kwargs: Any) -> call_result.ReserveNow:
        if connector_id == 0 and self.sim.settings.get("ReserveConnectorZeroSupported") == "false":
            return call_result.ReserveNow(status="Rejected")
        return call_result.ReserveNow(status=self.sim.reserve(
            reservation_id, connector_id, id_tag, kwargs.get("parent_id_tag"),
            expires_at=parse_z(kwargs.get("expiry_date"))))

    @on(Action.cancel_reservation)
    async def on_cancel_reservation(self, reservation_id: int) -> call_result.CancelReservation:
        return call_result.CancelReservation(status=self.sim.cancel_reservation(reservation_id))

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, **kwargs: Any) -> call_result.DataTransfer:
        return call_result.DataTransfer(**self.sim.vendor_data(vendor_id, kwargs.get("data")))

    @on(Action.clear_cache)
    async def on_clear_cache(self) -> call_result.ClearCache:
        self.sim.cache_cleared += 1
        return call_result.ClearCache(status="Accepted")

    @on(Action.set_charging_profile)
    async def on_set_charging_profile(self, connector_id: int, cs_charging_profiles: dict[str, Any]
                                      ) -> call_result.SetChargingProfile:
        self.sim.smart_charging_offered()
        await self.sim.profile_turn()
        return call_result.SetChargingProfile(status=self.sim.profiles.set(
            connector_id, cs_charging_profiles, connector_id in self.sim.transactions))

    @on(Action.clear_charging_profile)
    async def on_clear_charging_profile(self, **kwargs: Any) -> call_result.ClearChargingProfile:
        self.sim.smart_charging_offered()
        return call_result.ClearChargingProfile(status=self.sim.profiles.clear(
            kwargs.get("id"), kwargs.get("connector_id"), kwargs.get("charging_profile_purpose"),
            kwargs.get("stack_level")))

    @on(Action.get_composite_schedule)
    async def on_get_composite_schedule(self, connector_id: int, duration: int, **kwargs: Any
                                        ) -> call_result.GetCompositeSchedule:
        self.sim.smart_charging_offered()
        if connector_id > self.sim.config.connectors:
            return call_result.GetCompositeSchedule(status="Rejected")
        found = self.sim.profiles.composite(connector_id, duration, kwargs.get("charging_rate_unit"))
        return call_result.GetCompositeSchedule(
            status="Accepted", connector_id=connector_id, schedule_start=found["start"],
            charging_schedule={"duration": duration, "start_schedule": found["start"],
                               "charging_rate_unit": found["unit"],
                               "charging_schedule_period": found["periods"]})

    @on(Action.get_local_list_version)
    async def on_get_local_list_version(self) -> call_result.GetLocalListVersion:
        # -1: this charger has no local list (Local Auth List Management not supported).
        return call_result.GetLocalListVersion(
            list_version=self.sim.local_list_version if self.sim.config.local_list else -1)

    @on(Action.send_local_list)
    async def on_send_local_list(self, list_version: int, update_type: str,
                                 **kwargs: Any) -> call_result.SendLocalList:
        entries = [(item["id_tag"], _list_info(item.get("id_tag_info")))
                   for item in kwargs.get("local_authorization_list") or []]
        return call_result.SendLocalList(status=self.sim.apply_local_list(
            list_version, update_type == "Full", entries))


    @on(Action.update_firmware)
    async def on_update_firmware(self, location: str, retrieve_date: str,
                                 **kwargs: Any) -> call_result.UpdateFirmware:
        # 1.6 core has no way to refuse: the statuses that follow tell.
        self.sim.firmware_job(location, False, lambda status: self.sim.call(
            call.FirmwareStatusNotification(status=status)))
        return call_result.UpdateFirmware()

    @on(Action.signed_update_firmware)
    async def on_signed_update_firmware(self, request_id: int, firmware: dict[str, Any],
                                        **kwargs: Any) -> call_result.SignedUpdateFirmware:
        if self.sim.config.firmware_outcome == "Rejected":
            return call_result.SignedUpdateFirmware(status="Rejected")
        return call_result.SignedUpdateFirmware(status=self.sim.firmware_job(
            firmware["location"], True, lambda status: self.sim.call(
                call.SignedFirmwareStatusNotification(status=status, request_id=request_id))))

    @on(Action.get_diagnostics)
    async def on_get_diagnostics(self, location: str,
                                 **kwargs: Any) -> call_result.GetDiagnostics:
        self.sim.run_job(log_statuses(self.sim.config.log_outcome, core=True),
                         lambda status: self.sim.call(
                             call.DiagnosticsStatusNotification(status=status)))
        return call_result.GetDiagnostics(file_name=f"{self.sim.config.charge_point_id}-diag.zip")

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

    # --- certificates (1.6 security whitepaper) ------------------------------------------------

    @on(Action.certificate_signed)
    async def on_certificate_signed(self, certificate_chain: str) -> call_result.CertificateSigned:
        return call_result.CertificateSigned(status=self.sim.certificates.signed(certificate_chain))

    @on(Action.install_certificate)
    async def on_install_certificate(self, certificate_type: str,
                                     certificate: str) -> call_result.InstallCertificate:
        return call_result.InstallCertificate(
            status=self.sim.certificates.install(certificate_type, certificate))

    @on(Action.get_installed_certificate_ids)
    async def on_get_installed(self, certificate_type: str
                               ) -> call_result.GetInstalledCertificateIds:
        found = [data for _, data in self.sim.certificates.installed([certificate_type])]
        return call_result.GetInstalledCertificateIds(
            status="Accepted" if found else "NotFound", certificate_hash_data=found or None)

    @on(Action.extended_trigger_message)
    async def on_extended_trigger(self, requested_message: str,
                                  **kwargs: Any) -> call_result.ExtendedTriggerMessage:
        if requested_message != "SignChargePointCertificate":
            return call_result.ExtendedTriggerMessage(status="NotImplemented")
        self.sim.spawn(self.sim.request_certificate())
        return call_result.ExtendedTriggerMessage(status="Accepted")

    @on(Action.delete_certificate)
    async def on_delete_certificate(self, certificate_hash_data: dict[str, str]
                                    ) -> call_result.DeleteCertificate:
        return call_result.DeleteCertificate(
            status=self.sim.certificates.delete(certificate_hash_data))


class ChargePoint16(SimulatedChargePoint):
    subprotocol = "ocpp1.6"

    def sign_certificate_payload(self, csr: str, use: str | None) -> Any:
        return call.SignCertificate(csr=csr)  # 1.6 signs its TLS certificate only

    def make_client(self, websocket: Any) -> _Client:
        return _Client(self, websocket)

    async def boot(self) -> None:
        answer = await self.call(call.BootNotification(
            charge_point_vendor=self.config.vendor, charge_point_model=self.config.model,
            firmware_version=self.config.firmware,
            charge_point_serial_number=self.config.serial,
        ))
        self.boot_status = answer.status
        self.csms_heartbeat_interval = float(answer.interval or 300)

    async def heartbeat(self) -> None:
        await self.call(call.Heartbeat())

    async def set_status(self, connector: int, status: str, error_code: str = "NoError") -> None:
        await self.call(call.StatusNotification(connector_id=connector, error_code=error_code,
                                                status=status, timestamp=now_z()))

    async def report_statuses(self) -> None:
        await self.set_status(0, "Available")
        for connector in self.meter_wh:
            await self.set_status(connector, "Charging" if connector in self.transactions
                                  else "Unavailable" if connector in self.inoperative
                                  else "Available")

    def _sampled(self, connector: int, context: str) -> list[dict[str, Any]]:
        energy = {"value": str(self.meter_wh[connector]), "context": context,
                  "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
        if context != "Sample.Periodic":
            return [{"timestamp": now_z(), "sampled_value": [energy]}]
        return [{"timestamp": now_z(), "sampled_value": [
            energy,
            {"value": str(round(self.drawn_w(connector))), "context": context,
             "measurand": "Power.Active.Import", "unit": "W"},
            {"value": f"{self.drawn_amps(connector):.1f}", "context": context,
             "measurand": "Current.Import", "unit": "A", "phase": "L1"},
            {"value": "50", "context": context, "measurand": "SoC", "unit": "Percent",
             "location": "EV"},
        ]}]

    def meter_payload(self, connector: int) -> Any:
        tx = self.transactions.get(connector)
        return call.MeterValues(
            connector_id=connector, meter_value=self._sampled(connector, "Sample.Periodic"),
            transaction_id=int(tx.transaction_id) if tx and tx.transaction_id else None,
        )

    async def send_meter_now(self, connector: int) -> None:
        self.enqueue(self.meter_payload(connector))

    async def authorize(self, id_tag: str) -> str:
        answer = await self.call(call.Authorize(id_tag=id_tag))
        self.token_groups[id_tag] = answer.id_tag_info.get("parent_id_tag")
        return str(answer.id_tag_info["status"])

    async def begin_transaction(self, connector: int, id_tag: str) -> str:
        """StartTransaction is queued like any transaction message and resent, unchanged,
        until answered: the transaction id comes with the answer."""
        if self.connected.is_set():  # offline, the StartTransaction waits in the queue
            await self.set_status(connector, "Preparing")
        answer = await self.enqueue(call.StartTransaction(
            connector_id=connector, id_tag=id_tag, meter_start=self.meter_wh[connector],
            timestamp=now_z(), reservation_id=self.use_reservation(connector, id_tag)))
        if answer is None:
            raise RuntimeError("StartTransaction refused")
        tx = self.transactions.setdefault(connector, Transaction(token=id_tag))
        tx.transaction_id = str(answer.transaction_id)
        tx.group = answer.id_tag_info.get("parent_id_tag")
        if answer.id_tag_info["status"] != "Accepted":
            # StopTransactionOnInvalidId: end it at once.
            await self.stop_local_session(connector, "DeAuthorized")
            return tx.transaction_id
        await self.set_status(connector, "Charging" if self.draws_energy(1) else "SuspendedEV")
        self.start_metering(connector)
        return tx.transaction_id

    async def charging_changed(self, connector: int, drawing: bool) -> None:
        with contextlib.suppress(ConnectionClosed, OCPPError):  # offline: status is not queued
            await self.set_status(connector, "Charging" if drawing else "SuspendedEV")

    async def start_local_session(self, connector: int, id_tag: str) -> str:
        """Returns the transaction id; offline, "" (the id comes with the answer once online)."""
        online = self.connected.is_set()
        status = await self.authorize(id_tag) if online else self.local_authorization(id_tag)
        if status != "Accepted":
            raise RuntimeError(f"token {id_tag} not accepted: {status}")
        if not self.may_start(connector, id_tag):
            raise RuntimeError(f"connector {connector} is held for another token")
        self.transactions[connector] = Transaction(token=id_tag)
        if not online:
            self.spawn(self.begin_transaction(connector, id_tag))
            return ""
        return await self.begin_transaction(connector, id_tag)

    async def stop_local_session(self, connector: int, reason: str = "Local",
                                 stopped_by: str | None = None) -> None:
        tx = self.stop_metering(connector)
        if tx is None or tx.transaction_id is None:
            return
        self.enqueue(call.StopTransaction(
            meter_stop=self.meter_wh[connector], timestamp=now_z(),
            transaction_id=int(tx.transaction_id), reason=reason, id_tag=stopped_by or tx.token,
            transaction_data=self._sampled(connector, "Transaction.End"),
        ))
        if self.connected.is_set():
            self.spawn(self._after_stop(connector))

    async def _after_stop(self, connector: int) -> None:
        await self.set_status(connector, "Finishing")
        await self.set_status(connector, self.after_transaction(connector))


def _list_info(info: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if info is None else {"status": info["status"], "expiry": info.get("expiry_date")}
