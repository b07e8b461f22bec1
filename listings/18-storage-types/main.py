"""Block, file and object storage, each a small real implementation in a
temporary directory, running the same workload. The program counts the
operations and bytes each step costs on each store."""

import os
import tempfile
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KIB = 1024
MIB = 1024 * KIB
BLOCK = 4 * KIB  # block size of the volume
SLOT = 512  # blocks reserved per file on the volume: 2 MiB, room to grow
MAX_IO = 256 * KIB  # largest I/O one request carries, as EBS counts
NAMES = ["docs/a.bin", "docs/b.bin", "docs/c.bin"]


def content(i: int) -> bytes:
    """1 MiB of recognisable bytes for file i."""
    return bytes([65 + i]) * MIB


class BlockDevice:
    """A volume as one file, read and written only in whole blocks by
    block number. One request covers a run of adjacent blocks up to
    MAX_IO bytes. It has no names: the caller keeps its own map."""

    def __init__(self, path: str, blocks: int) -> None:
        self.f = open(path, "w+b")
        self.f.truncate(blocks * BLOCK)
        self.ops = 0
        self.bytes = 0

    def read(self, first: int, count: int) -> bytes:
        """Read count blocks from block first on, one request per MAX_IO."""
        parts = []
        for at in range(0, count * BLOCK, MAX_IO):
            self.f.seek(first * BLOCK + at)
            parts.append(self.f.read(min(MAX_IO, count * BLOCK - at)))
            self.ops += 1
        self.bytes += count * BLOCK
        return b"".join(parts)

    def write(self, first: int, data: bytes) -> None:
        """Write data from block first on, one request per MAX_IO."""
        # => the device takes whole blocks only, so short data is padded
        count = -(-len(data) // BLOCK)
        data = data.ljust(count * BLOCK, b"\0")
        for at in range(0, len(data), MAX_IO):
            self.f.seek(first * BLOCK + at)
            self.f.write(data[at : at + MAX_IO])
            self.ops += 1
        self.bytes += len(data)


class FileStore:
    """A directory tree on the real filesystem; each method is one call
    a client would send to a file server such as NFS."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.ops = 0
        self.bytes = 0

    def path(self, name: str) -> str:
        return os.path.join(self.root, name)

    def write(self, name: str, data: bytes) -> None:
        os.makedirs(os.path.dirname(self.path(name)), exist_ok=True)
        with open(self.path(name), "wb") as f:
            f.write(data)
        self.ops += 1
        self.bytes += len(data)

    def read(self, name: str, offset: int = 0, size: int = -1) -> bytes:
        with open(self.path(name), "rb") as f:
            f.seek(offset)
            data = f.read(size)
        self.ops += 1
        self.bytes += len(data)
        return data

    def write_at(self, name: str, offset: int, data: bytes) -> None:
        # => a partial write in place: the rest of the file is untouched
        with open(self.path(name), "r+b") as f:
            f.seek(offset)
            f.write(data)
        self.ops += 1
        self.bytes += len(data)

    def append(self, name: str, data: bytes) -> None:
        with open(self.path(name), "ab") as f:
            f.write(data)
        self.ops += 1
        self.bytes += len(data)

    def list(self, directory: str) -> list[str]:
        self.ops += 1
        return sorted(os.listdir(self.path(directory)))

    def rename(self, old: str, new: str) -> None:
        # => one metadata change; no file data moves
        os.rename(self.path(old), self.path(new))
        self.ops += 1


class ObjectServer(BaseHTTPRequestHandler):
    """PUT, GET (with Range), DELETE and list-by-prefix over HTTP. A PUT
    with X-Copy-Source copies an object inside the store."""

    objects: dict[str, bytes] = {}
    copied = 0  # bytes copied inside the store, never sent to a client

    def do_PUT(self) -> None:
        source = self.headers.get("X-Copy-Source")
        if source is not None:
            data = self.objects[source]
            ObjectServer.copied += len(data)
        else:
            data = self.rfile.read(int(self.headers["Content-Length"]))
        self.objects[self.path] = data
        self.reply(200, b"")

    def do_GET(self) -> None:
        if self.path.startswith("/?prefix="):
            prefix = "/" + self.path.removeprefix("/?prefix=")
            keys = sorted(k for k in self.objects if k.startswith(prefix))
            self.reply(200, "\n".join(k[1:] for k in keys).encode())
            return
        data = self.objects[self.path]
        ranged = self.headers.get("Range")
        if ranged is None:
            self.reply(200, data)
            return
        # => a byte range GET: "bytes=first-last", both ends included
        first, last = ranged.removeprefix("bytes=").split("-")
        self.reply(206, data[int(first) : int(last) + 1])

    def do_DELETE(self) -> None:
        del self.objects[self.path]
        self.reply(204, b"")

    def reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class ObjectClient:
    """An HTTP client that counts requests and body bytes both ways."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.ops = 0
        self.bytes = 0

    def send(
        self,
        method: str,
        key: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> bytes:
        req = urllib.request.Request(
            self.base + key, data=body, method=method, headers=headers or {}
        )
        with urllib.request.urlopen(req) as resp:
            data = resp.read()
        self.ops += 1
        self.bytes += len(body or b"") + len(data)
        return data

    def put(self, key: str, data: bytes) -> None:
        self.send("PUT", "/" + key, data)

    def get(self, key: str, first: int = -1, last: int = -1) -> bytes:
        if first < 0:
            return self.send("GET", "/" + key)
        return self.send(
            "GET", "/" + key, headers={"Range": f"bytes={first}-{last}"}
        )

    def list(self, prefix: str) -> list[str]:
        return self.send("GET", "/?prefix=" + prefix).decode().split("\n")

    def rename(self, old: str, new: str) -> None:
        # => no rename in the object model: copy to the new key, then delete
        self.send("PUT", "/" + new, b"", {"X-Copy-Source": "/" + old})
        self.send("DELETE", "/" + old)


def size(n: int) -> str:
    if n >= MIB and n % MIB == 0:
        return f"{n // MIB} MiB"
    return f"{n // KIB} KiB"


def main() -> None:
    tmp = tempfile.TemporaryDirectory()
    volume = BlockDevice(os.path.join(tmp.name, "volume.img"), SLOT * 3)
    files = FileStore(os.path.join(tmp.name, "files"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), ObjectServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    objects = ObjectClient(f"http://{host}:{port}")
    stores = [volume, files, objects]
    lengths = [MIB, MIB, MIB]  # the block caller's own map of file sizes

    def report(step: str, cells: list[str]) -> None:
        # Print the counts since the last step, then reset them. A cell
        # of "-" means the store has no such operation.
        line = f"{step:<13}"
        for store, cell in zip(stores, cells, strict=True):
            n = store.ops
            if cell == "":
                cell = f"{n} op{'s' if n != 1 else ''}, {size(store.bytes)}"
            line += f"{cell:<16}"
            store.ops = store.bytes = 0
        print(line.rstrip())

    print(f"{'step':<13}{'block':<16}{'file':<16}object")
    # => prints: step         block           file            object

    # Write three 1 MiB files. The block store puts file i at block
    # i * 512 and writes its 256 blocks in requests of 256 KiB.
    for i, name in enumerate(NAMES):
        data = content(i)
        volume.write(i * SLOT, data)
        files.write(name, data)
        objects.put(name, data)
    report("write 3", ["", "", ""])
    # => prints: write 3      12 ops, 3 MiB   3 ops, 3 MiB    3 ops, 3 MiB

    # Read file b whole, then 4 KiB from its middle.
    volume.read(SLOT, MIB // BLOCK)
    files.read(NAMES[1])
    objects.get(NAMES[1])
    report("read whole", ["", "", ""])
    # => prints: read whole   4 ops, 1 MiB    1 op, 1 MiB     1 op, 1 MiB
    mid = MIB // 2
    volume.read(SLOT + mid // BLOCK, 1)
    files.read(NAMES[1], mid, 4 * KIB)
    objects.get(NAMES[1], mid, mid + 4 * KIB - 1)
    report("read 4 KiB", ["", "", ""])
    # => prints: read 4 KiB   1 op, 4 KiB     1 op, 4 KiB     1 op, 4 KiB

    # Change 4 KiB in the middle. An object cannot be changed in place,
    # so the client downloads it, patches it and uploads all of it.
    patch = b"z" * (4 * KIB)
    volume.write(SLOT + mid // BLOCK, patch)
    files.write_at(NAMES[1], mid, patch)
    whole = objects.get(NAMES[1])
    objects.put(NAMES[1], whole[:mid] + patch + whole[mid + len(patch) :])
    report("update 4 KiB", ["", "", ""])
    # => prints: update 4 KiB 1 op, 4 KiB     1 op, 4 KiB     2 ops, 2 MiB

    # Append 4 KiB. The block caller writes the next block of the file's
    # slot and records the new length itself.
    volume.write(SLOT + lengths[1] // BLOCK, patch)
    lengths[1] += len(patch)
    files.append(NAMES[1], patch)
    whole = objects.get(NAMES[1])
    objects.put(NAMES[1], whole + patch)
    report("append 4 KiB", ["", "", ""])
    # => prints: append 4 KiB 1 op, 4 KiB     1 op, 4 KiB     2 ops, 2052 KiB

    # List the directory, or the keys under the prefix. A volume has no
    # names to list.
    listed = files.list("docs")
    keys = objects.list("docs/")
    report(
        "list docs/",
        ["-", f"1 op, {len(listed)} names", f"1 op, {len(keys)} keys"],
    )
    # => prints: list docs/   -               1 op, 3 names   1 op, 3 keys

    # Rename b.bin. The object store copies it to the new key inside
    # itself, so no data crosses the network, then deletes the old key.
    files.rename(NAMES[1], "docs/b2.bin")
    ObjectServer.copied = 0
    objects.rename(NAMES[1], "docs/b2.bin")
    report("rename", ["-", "", ""])
    # => prints: rename       -               1 op, 0 KiB     2 ops, 0 KiB
    print(f"object rename copied {size(ObjectServer.copied)} inside the store")
    # => prints: object rename copied 1028 KiB inside the store

    # All three hold the same bytes for the changed file.
    data = volume.read(SLOT, lengths[1] // BLOCK)
    same = data == files.read("docs/b2.bin") == objects.get("docs/b2.bin")
    answer = "yes" if same else "no"
    print(f"block, file and object hold the same b.bin: {answer}")
    # => prints: block, file and object hold the same b.bin: yes

    server.shutdown()
    volume.f.close()
    tmp.cleanup()


if __name__ == "__main__":
    main()
