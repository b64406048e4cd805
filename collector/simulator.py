"""The built-in Modbus TCP simulator (``ddms simulate``, ``ddms serve --simulator``), on pymodbus.

Devices (default port 5020; every value is a holding register read with function 0x03)::

    #  name                     unit id  register  type     order  scale  unit   signal
    1  Sim boiler temperature   1        0         float32  ABCD   1      °C     65 ± 12 sine, 120 s, noise
    2  Sim line pressure        1        2         float32  CDAB   1      bar    4.2 ± 0.6 sine, 45 s
    3  Sim coolant flow         2        0         int16    ABCD   0.1    L/min  120 ± 15 sine, 30 s
    4  Sim energy meter         2        10        uint32   ABCD   1      kWh    counter, +5 per second
    5  Sim ambient temperature  3        0         int16    ABCD   0.1    °C     21.5 ± 3 sine, 600 s
    6  Sim tank level           3        4         float32  DCBA   1      %      ramp 20 -> 90 over 300 s
    7  Sim motor speed          4        0         uint16   ABCD   1      rpm    1450 ± 30 noise
    8  Sim pump cycles          4        2         uint32   CDAB   1      cycles counter, +1 per 3 s

With ``--devices N`` above 8, device 9 onwards are float32 (ABCD) temperature sensors, 100 per unit
id from unit 10 (unit 10 + (i - 9) // 100, register 2 * ((i - 9) % 100)).

Values are computed when they are read, so every poll sees the signal at that instant.

Fault mode (``--faults``) repeats this script every 60 s: 10-20 s unit 4 answers 1.5 s late;
25-35 s unit 3 answers with exception 4 (server device failure); at 40 s every connection is
dropped; 45-55 s unit 2 is silent (no answer at all). Tests drive the same faults directly with
``set_fault`` and ``drop_connections``.

pymodbus's stock request handler answers only the first of several requests that arrive in one
TCP segment; the handler below answers each of them (the DDMS collector pipelines requests), using
pymodbus's own framer, PDU classes and datastore.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import ModbusIOException
from pymodbus.pdu import ExceptionResponse, ModbusPDU
from pymodbus.server import ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler
from pymodbus.simulator import DataType, SimData, SimDevice

from collector.decode import encode

logger = logging.getLogger(__name__)

# pymodbus's SimDevice action: (function code, start address, address, count, registers, values set)
SimAction = Callable[
    [int, int, int, int, list[int], list[int] | list[bool] | None], Coroutine[None, None, ExcCodes | None]
]

REGISTERS_PER_UNIT = 256
EXTRA_FIRST_UNIT = 10
SILENT_MAX_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class Signal:
    """One simulated measurement and where a device finds it."""

    name: str
    unit_label: str
    unit_id: int
    address: int
    data_type: str
    byte_order: str
    scale: float
    compute: Callable[[float], float]  # seconds since start -> engineering value
    thresholds: dict[str, float] = field(default_factory=dict)

    def registers(self, elapsed: float) -> list[int]:
        raw = self.compute(elapsed) / self.scale
        return encode(raw, self.data_type, self.byte_order)

    def device_fields(self, host: str, port: int, interval: int = 2) -> dict[str, Any]:
        """The DeviceCreate body that polls this signal."""
        return {
            "name": self.name,
            "modbus_ip": host,
            "modbus_port": port,
            "modbus_slave_id": self.unit_id,
            "modbus_register": self.address,
            "data_type": self.data_type,
            "byte_order": self.byte_order,
            "scale": self.scale,
            "unit": self.unit_label,
            "sampling_interval": interval,
            "description": "Built-in simulator",
            **self.thresholds,
        }


def _sine(
    mean: float, amplitude: float, period: float, noise: float = 0.0, phase: float = 0.0
) -> Callable[[float], float]:
    return lambda t: (
        mean
        + amplitude * math.sin(2 * math.pi * t / period + phase)
        + (random.gauss(0, noise) if noise else 0.0)
    )


def catalog(count: int = 8) -> list[Signal]:
    """The documented signals: the eight standard ones, then float32 sensors up to ``count``."""
    standard = [
        Signal(
            "Sim boiler temperature",
            "°C",
            1,
            0,
            "float32",
            "ABCD",
            1.0,
            _sine(65, 12, 120, 0.3),
            {"threshold_warning_upper": 75.0, "threshold_critical_upper": 80.0, "hysteresis": 1.0},
        ),
        Signal(
            "Sim line pressure",
            "bar",
            1,
            2,
            "float32",
            "CDAB",
            1.0,
            _sine(4.2, 0.6, 45, 0.02),
            {"threshold_warning_lower": 3.7, "threshold_warning_upper": 4.7, "hysteresis": 0.05},
        ),
        Signal("Sim coolant flow", "L/min", 2, 0, "int16", "ABCD", 0.1, _sine(120, 15, 30, 0.5)),
        Signal("Sim energy meter", "kWh", 2, 10, "uint32", "ABCD", 1.0, lambda t: 100_000 + 5 * int(t)),
        Signal("Sim ambient temperature", "°C", 3, 0, "int16", "ABCD", 0.1, _sine(21.5, 3, 600, 0.1)),
        Signal("Sim tank level", "%", 3, 4, "float32", "DCBA", 1.0, lambda t: 20 + 70 * ((t % 300) / 300)),
        Signal(
            "Sim motor speed", "rpm", 4, 0, "uint16", "ABCD", 1.0, lambda t: 1450 + random.uniform(-30, 30)
        ),
        Signal("Sim pump cycles", "cycles", 4, 2, "uint32", "CDAB", 1.0, lambda t: 5000 + int(t // 3)),
    ]
    signals = standard[:count]
    for index in range(max(0, count - len(standard))):
        signals.append(
            Signal(
                f"Sim sensor {index + 9:04d}",
                "°C",
                EXTRA_FIRST_UNIT + index // 100,
                2 * (index % 100),
                "float32",
                "ABCD",
                1.0,
                _sine(40, 10, 60 + index % 50, 0.1, phase=index * 0.37),
            )
        )
    return signals


class FaultKind(StrEnum):
    SLOW = "slow"  # answer after ``value`` seconds
    EXCEPTION = "exception"  # answer with exception code ``value``
    SILENT = "silent"  # never answer


@dataclass(frozen=True, slots=True)
class Fault:
    kind: FaultKind
    value: float = 0.0


class _PipelinedHandler(ServerRequestHandler):
    """Answers every request in a segment, each in its own task (pymodbus keeps only the last).

    A request for a unit id the simulator does not have is answered with exception 0x0B (gateway
    target failed to respond), as a Modbus TCP gateway answers for a unit behind it that is not
    there; pymodbus's datastore would fail with a KeyError (unit 0 is its fallback).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]  # pymodbus: unannotated
        self._answers: set[asyncio.Task[None]] = set()
        self._units = frozenset(self.server.context.device_ids())

    def callback_data(self, data: bytes, addr: tuple[Any, ...] | None = None) -> int:
        used = 0
        while used < len(data):
            try:
                length, pdu = self.framer.handleFrame(data[used:], 0, 0)
            except ModbusIOException as exc:
                refusal = ExceptionResponse(
                    exc.fcode or 0,
                    exception_code=ExcCodes.ILLEGAL_FUNCTION,
                    device_id=exc.dev_id,
                    transaction=exc.transaction_id,
                )
                self.server_send(refusal, addr)  # type: ignore[no-untyped-call]
                return len(data)
            if not length:
                break
            used += length
            if pdu is not None:
                task = self.loop.create_task(self._answer(pdu, addr))
                self._answers.add(task)
                task.add_done_callback(self._answers.discard)
        return used

    async def _answer(self, request: ModbusPDU, addr: tuple[Any, ...] | None) -> None:
        try:
            if request.dev_id in self._units:
                response = await request.datastore_update(self.server.context, request.dev_id)
            else:
                response = ExceptionResponse(request.function_code, ExcCodes.GATEWAY_NO_RESPONSE)
        except Exception:
            logger.exception("simulator: request failed")
            response = ExceptionResponse(request.function_code, ExcCodes.DEVICE_FAILURE)
        response.transaction_id = request.transaction_id
        response.dev_id = request.dev_id
        if self.transport is not None and not self.transport.is_closing():
            self.server_send(response, addr)  # type: ignore[no-untyped-call]

    def callback_disconnected(self, exc: Exception | None) -> None:
        for task in list(self._answers):
            task.cancel()
        super().callback_disconnected(exc)


class _Server(ModbusTcpServer):
    def callback_new_connection(self) -> ServerRequestHandler:
        return _PipelinedHandler(self, self.trace_packet, self.trace_pdu, self.trace_connect)


class Simulator:
    """A pymodbus TCP server whose registers follow the signals, with faults on demand."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 5020, signals: list[Signal] | None = None
    ) -> None:
        self.host, self.requested_port = host, port
        self.signals = signals if signals is not None else catalog()
        self.faults: dict[int, Fault] = {}
        self.requests = 0
        self._by_address = {(s.unit_id, s.address): s for s in self.signals}
        self._t0 = time.monotonic()
        self._server: _Server | None = None
        self._script: asyncio.Task[None] | None = None
        self._fault_cleared = asyncio.Event()

    @property
    def port(self) -> int:
        assert self._server is not None, "simulator not started"
        return int(self._server.transport.sockets[0].getsockname()[1])  # type: ignore[attr-defined]

    @property
    def unit_ids(self) -> list[int]:
        return sorted({signal.unit_id for signal in self.signals})

    async def start(self, *, fault_script: bool = False) -> None:
        devices = [
            SimDevice(
                id=unit,
                simdata=[SimData(address=0, count=REGISTERS_PER_UNIT, values=0, datatype=DataType.REGISTERS)],
                action=self._action_for(unit),
            )
            for unit in self.unit_ids
        ]
        self._server = _Server(devices, address=(self.host, self.requested_port))
        await self._server.serve_forever(background=True)
        if fault_script:
            self._script = asyncio.get_running_loop().create_task(self._run_script())
        logger.info(
            "Modbus simulator: %d device(s) on %s:%d (unit ids %s)",
            len(self.signals),
            self.host,
            self.port,
            ", ".join(map(str, self.unit_ids)),
        )

    async def stop(self) -> None:
        if self._script is not None:
            self._script.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._script
        self.clear_faults()
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            self._server = None

    # --- faults --------------------------------------------------------------------------------
    def set_fault(self, unit_id: int, kind: FaultKind, value: float = 0.0) -> None:
        self.faults[unit_id] = Fault(kind, value)

    def clear_faults(self, unit_id: int | None = None) -> None:
        if unit_id is None:
            self.faults.clear()
        else:
            self.faults.pop(unit_id, None)
        self._fault_cleared.set()
        self._fault_cleared = asyncio.Event()

    def drop_connections(self) -> int:
        """Abort every client connection (the server keeps listening); returns how many."""
        assert self._server is not None
        dropped = 0
        for connection in list(self._server.active_connections.values()):
            transport = connection.transport
            if transport is not None:
                transport.abort()  # type: ignore[attr-defined]
                dropped += 1
        return dropped

    async def _run_script(self) -> None:
        steps: list[tuple[float, Callable[[], object]]] = [
            (10, lambda: self.set_fault(4, FaultKind.SLOW, 1.5)),
            (20, lambda: self.clear_faults(4)),
            (25, lambda: self.set_fault(3, FaultKind.EXCEPTION, 4)),
            (35, lambda: self.clear_faults(3)),
            (40, self.drop_connections),
            (45, lambda: self.set_fault(2, FaultKind.SILENT)),
            (55, lambda: self.clear_faults(2)),
        ]
        while True:
            start = time.monotonic()
            for at, step in steps:
                await asyncio.sleep(max(0.0, start + at - time.monotonic()))
                logger.info("simulator fault script at %g s", at)
                step()
            await asyncio.sleep(max(0.0, start + 60 - time.monotonic()))

    # --- register values -----------------------------------------------------------------------
    def _action_for(self, unit_id: int) -> SimAction:
        async def action(
            function_code: int,
            start_address: int,
            address: int,
            count: int,
            registers: list[int],
            set_values: object,
        ) -> ExcCodes | None:
            return await self._on_access(unit_id, address, count, start_address, registers)

        return action

    async def _on_access(
        self, unit_id: int, address: int, count: int, start: int, registers: list[int]
    ) -> ExcCodes | None:
        self.requests += 1
        fault = self.faults.get(unit_id)
        if fault is not None:
            if fault.kind is FaultKind.EXCEPTION:
                return ExcCodes(int(fault.value))
            if fault.kind is FaultKind.SILENT:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(SILENT_MAX_SECONDS):
                        await self._fault_cleared.wait()
                return ExcCodes.GATEWAY_NO_RESPONSE  # only reached when the fault ends mid-request
            await asyncio.sleep(fault.value)
        elapsed = time.monotonic() - self._t0
        for register in range(address, address + count):
            signal = self._by_address.get((unit_id, register))
            if signal is not None:
                offset = register - start
                values = signal.registers(elapsed)
                registers[offset : offset + len(values)] = values
        return None


async def register_devices(host: str, port: int, count: int) -> int:
    """On a database without devices, add the simulator's devices; returns how many were added."""
    from ddms import db
    from ddms.schemas.devices import DeviceCreate
    from ddms.services import devices

    async with db.session_scope() as session:
        if await devices.list_devices(session=session):
            return 0
        for signal in catalog(count):
            data = DeviceCreate(**signal.device_fields(host, port))
            await devices.create_device(session=session, data=data)
    logger.info("registered %d simulator device(s) on %s:%d", count, host, port)
    return count


class SimulatorService:
    """``ddms serve --simulator``: the simulator as a background part of the app."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.simulator = Simulator(
            settings.simulator_host, settings.simulator_port, catalog(settings.simulator_devices)
        )

    async def start(self) -> None:
        await self.simulator.start()

    async def stop(self) -> None:
        await self.simulator.stop()


async def run(host: str, port: int, count: int, faults: bool) -> None:
    """``ddms simulate``: serve until interrupted."""
    simulator = Simulator(host, port, catalog(count))
    await simulator.start(fault_script=faults)
    print(f"Modbus simulator on {host}:{simulator.port}: {count} device(s)", flush=True)  # noqa: T201
    for signal in simulator.signals[:20]:
        print(  # noqa: T201
            f"  unit {signal.unit_id:3d}  register {signal.address:3d}  {signal.data_type:7s} "
            f"{signal.byte_order}  x{signal.scale:g}  {signal.unit_label:6s} {signal.name}"
        )
    try:
        await asyncio.Event().wait()
    finally:
        await simulator.stop()
