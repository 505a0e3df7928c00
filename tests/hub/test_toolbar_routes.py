"""The toolbar's routes: the page at / and /agent/{login}, its assets, GET /config."""

from __future__ import annotations

import re

import httpx

from ctibridge.hub.toolbar import COMMANDS

ASSETS = {"toolbar.css": "text/css", "main.js": "text/javascript", "auth.js": "text/javascript"}


async def test_the_page_is_served_at_the_root_and_per_agent(live):
    async with httpx.AsyncClient(base_url=live.http) as http:
        for path in ("/", "/agent/agent1"):
            response = await http.get(path)
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/html")
            assert '<script type="module" src="/toolbar/main.js"></script>' in response.text


async def test_every_asset_and_module_the_page_loads_is_served(live):
    async with httpx.AsyncClient(base_url=live.http) as http:
        page = (await http.get("/")).text
        wanted = re.findall(r'(?:href|src)="/toolbar/([^"]+)"', page)
        assert sorted(wanted) == sorted(ASSETS)
        seen: set[str] = set()
        while wanted:
            name = wanted.pop()
            if name in seen:
                continue
            seen.add(name)
            response = await http.get(f"/toolbar/{name}")
            assert response.status_code == 200, name
            kind = "text/css" if name.endswith(".css") else "text/javascript"
            assert response.headers["content-type"].startswith(kind), name
            # follow the ES module graph: every relative import must be served too
            wanted += re.findall(r'from "\./([^"]+)"', response.text)
        assert {"main.js", "link.js", "model.js", "view.js"} <= seen
        assert (await http.get("/toolbar/nothing.js")).status_code == 404


async def test_config_names_the_backend_and_the_hubs_clock(live):
    async with httpx.AsyncClient(base_url=live.http) as http:
        before = (await http.get("/config")).json()
        assert before == {"backend": "sim", "now": live.clock.now_ms(), "commands": COMMANDS}
        # the simulator panel's FailNext menu: the subtopic registry's commands
        assert "Hold" in COMMANDS and "StateSync" not in COMMANDS
        await live.advance(5)
        after = (await http.get("/config")).json()
        assert after["now"] - before["now"] == 5000
