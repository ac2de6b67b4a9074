"""A small asyncio service for `./bootstrap run`: a few coroutines that
parse, hash and sleep, so a profile shows distinct hot spots."""
import asyncio
import hashlib
import json


def parse_request(i):
    doc = json.dumps({"id": i, "items": list(range(50))})
    return json.loads(doc)


def checksum(payload):
    h = hashlib.sha256()
    for _ in range(200):
        h.update(repr(payload).encode())
    return h.hexdigest()


async def handle(i):
    req = parse_request(i)
    await asyncio.sleep(0.001)
    return checksum(req)


async def worker(name, n):
    done = 0
    while n is None or done < n:
        await handle(done)
        done += 1


async def main():
    await asyncio.gather(*(worker("w%d" % k, None) for k in range(4)))


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
