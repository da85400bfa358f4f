"""A charger's call to its @on handler and the answer back: the ocpp library's _handle_call in one walk."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import inspect
from collections.abc import Callable
from typing import Any

import asyncpg
import ocpp.charge_point
from ocpp.charge_point import remove_nones, serialize_as_dict
from ocpp.exceptions import PropertyConstraintViolationError
from ocpp.messages import Call, CallResult, _validate_payload, get_validator

from csms.ocpp.library import signatures


def _camel(name: str) -> str:
    """The library's translation of one key name, looked up by its module name: casing.install()
    puts the remembering one there (a reference taken at import would be the library's own)."""
    return next(iter(ocpp.charge_point.snake_to_camel_case({name: None})))


# Per answer class: (attribute, camelCase key) of each field, made on the first answer of a class.
_fields: dict[type, tuple[tuple[str, str], ...]] = {}

# What a JSON frame holds as is (the library's enums are str subclasses).
_SCALARS = (str, int, float, bool)


class _NotPlain(Exception):
    """A value the one walk does not take (a tuple, a set, an object): the library's three walks."""


def _walk(value: Any) -> Any:
    if isinstance(value, _SCALARS) or isinstance(value, enum.Enum):
        return value
    if isinstance(value, dict):
        return {_camel_key(key): _walk(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_walk(item) for item in value if item is not None]
    fields = _fields.get(type(value))
    if fields is None:
        if not dataclasses.is_dataclass(value) or isinstance(value, type):
            raise _NotPlain
        fields = _fields[type(value)] = tuple(
            (field.name, _camel(field.name)) for field in dataclasses.fields(value))
    answer = {}
    for name, key in fields:
        item = getattr(value, name)
        if item is not None:
            answer[key] = _walk(item)
    return answer


def _camel_key(key: Any) -> Any:
    return _camel(key) if isinstance(key, str) else key


def answer_payload(answer: Any) -> Any:
    """snake_to_camel_case(remove_nones(serialize_as_dict(answer))): what the library sends for a
    handler's answer, made in one walk over its fields instead of asdict's deep copy and two more
    walks over the copy (the library's dispatch was a tenth of a saturated server)."""
    try:
        return _walk(answer)
    except _NotPlain:
        return ocpp.charge_point.snake_to_camel_case(remove_nones(serialize_as_dict(answer)))


# Per (version, message type, action): the validator the library would look up by its schema's name.
_validators: dict[tuple[str, int, str], Any] = {}


def _validate(message: Call | CallResult, version: str) -> None:
    """_validate_payload(message, version), the validator found by a tuple instead of a name
    built per message. A payload it refuses goes to _validate_payload, so the error raised (and
    its CALLERROR code) is the library's. Our handlers answer none of 1.6's three Decimal
    actions (SetChargingProfile, RemoteStartTransaction, GetCompositeSchedule.conf): those are
    calls we send."""
    key = (version, message.message_type_id, message.action)
    validator = _validators.get(key)
    try:
        if validator is None:
            validator = get_validator(message.message_type_id, message.action, version)
            _validators[key] = validator
        validator.validate(message.payload)
    except Exception:
        _validate_payload(message, version)


def _takes_unique_id(handler: Callable[..., Any]) -> bool:
    return "call_unique_id" in signatures.signature(handler).parameters


def _call(handler: Callable[..., Any], payload: dict[str, Any], msg: Call) -> Any:
    if _takes_unique_id(handler):
        return handler(**payload, call_unique_id=msg.unique_id)
    return handler(**payload)


# After-actions run as tasks of their own; kept here until done, so none is collected mid-way.
_after: set[asyncio.Future[Any]] = set()


async def handle_call(charge_point: Any, msg: Call) -> CallResult:
    """The library's ChargePoint._handle_call, step for step (route, validate, translate, handle,
    answer, validate the answer, send, after-action), with three differences: an error a handler
    raises propagates, so the caller answers and counts it as any refused call instead of the
    library logging the whole frame with a traceback; a value our store cannot hold is refused
    as such; and the answer is made in one walk."""
    try:
        handler, after, skip_validation = charge_point.route_map.handlers(msg.action)
    except KeyError:
        ocpp.charge_point._raise_key_error(msg.action, charge_point._ocpp_version)
        raise  # not reached: the library raises NotImplemented or NotSupported
    if not skip_validation:
        _validate(msg, charge_point._ocpp_version)
    payload = ocpp.charge_point.camel_to_snake_case(msg.payload)
    if handler is None:
        ocpp.charge_point._raise_key_error(msg.action, charge_point._ocpp_version)
    try:
        answer = _call(handler, payload, msg)
        if inspect.isawaitable(answer):
            answer = await answer
    except (asyncpg.DataError, asyncpg.InterfaceError) as error:
        # A value the schema allows and our store cannot hold (a connectorId of 24 digits): bad
        # input, not an InternalError; its transaction was rolled back, so nothing was kept.
        # DataError: the server's data exceptions (SQLSTATE 22); an InterfaceError that is a
        # ValueError: asyncpg refusing to encode an argument. Any other InterfaceError is ours.
        if isinstance(error, asyncpg.InterfaceError) and not isinstance(error, ValueError):
            raise
        raise PropertyConstraintViolationError(
            description=f"a value we cannot keep: {str(error)[:120]}") from None
    response = msg.create_call_result(answer_payload(answer))
    if not skip_validation:
        _validate(response, charge_point._ocpp_version)
    await charge_point._send(response.to_json())
    if after is not None:
        later = _call(after, payload, msg)
        if inspect.isawaitable(later):
            task = asyncio.ensure_future(later)
            _after.add(task)
            task.add_done_callback(_after.discard)
    return response
