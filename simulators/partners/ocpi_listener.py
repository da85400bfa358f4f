"""An OCPI stand-in's HTTP side: every request below /ocpi to its handler, on a port of its own."""

from __future__ import annotations

from aiohttp import web


class OcpiListener:
    """Serves `_handle` (the stand-in's) from `start` to `stop`; port 0 picks a free one."""

    _runner: web.AppRunner | None = None
    port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def versions_url(self) -> str:
        return f"{self.url}/ocpi/versions"

    async def _handle(self, request: web.Request) -> web.Response:
        raise NotImplementedError

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application()
        app.router.add_route("*", "/ocpi/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
