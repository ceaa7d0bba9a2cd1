import asyncio
import gc
import tempfile
import tracemalloc
from pathlib import Path

import httpx

from api.server import serve
from bench.harness import free_port, open_raw_sse
from stigmer_service.embedded import EmbeddedServices
from stigmer_service.settings import Settings


async def main():
    with tempfile.TemporaryDirectory() as d:
        services = EmbeddedServices(Path(d), persistent=False); ep = services.start()
        hp, gp = free_port(), free_port()
        s = Settings(mongodb_uri=ep.mongodb_uri, redis_url=ep.redis_url, temporal_address=ep.temporal_address, http_port=hp, grpc_port=gp, sse_db_check_seconds=30)
        stop = asyncio.Event(); ready = asyncio.Event()
        t = asyncio.create_task(serve(s, stop=stop, ready=lambda a,b: ready.set()))
        await ready.wait()
        async with httpx.AsyncClient() as c:
            a = (await c.post(f"http://127.0.0.1:{hp}/v1/agents", json={"name":"m"})).json()
            e = (await c.post(f"http://127.0.0.1:{hp}/v1/agent-executions", json={"spec":{"agent_id":a["id"],"message":"x"}})).json()
        path = f"/v1/agent-executions/{e['metadata']['id']}/subscribe"
        conns = [await open_raw_sse("127.0.0.1", hp, path) for _ in range(20)]
        for r,_ in conns: await r.readline()
        gc.collect(); tracemalloc.start(25)
        snap1 = tracemalloc.take_snapshot()
        N=300
        more = [await open_raw_sse("127.0.0.1", hp, path) for _ in range(N)]
        for r,_ in more:
            while not (await r.readline()).startswith(b"data"): pass
        await asyncio.sleep(1)
        gc.collect()
        snap2 = tracemalloc.take_snapshot()
        stats = snap2.compare_to(snap1, "filename")
        total = sum(st.size_diff for st in stats)
        print("per watcher KiB (traced, server+client in-process)", total/N/1024)
        for st in stats[:25]: print(f"{st.size_diff/N:8.0f} B/watcher {st.traceback[0].filename.split('site-packages/')[-1]}")
        stop.set(); await t
        services.stop()
asyncio.run(main())
