"""DNS resolution: a caching resolver walks root, TLD and authoritative
servers, each a real UDP server on 127.0.0.1 speaking a tiny text
protocol, and a hand-driven clock shows when cached records expire."""

import logging
import socket
import threading


class Server:
    """One name server: it returns the addresses it stores and refers the
    resolver to a child zone's server for names below it."""

    def __init__(self, answer_ttl: int, ns_ttl: int) -> None:
        # Port 0: the kernel picks a free UDP port on 127.0.0.1.
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        host, port = self.sock.getsockname()
        self.addr = f"{host}:{port}"
        self.lock = threading.Lock()
        self.records: dict[str, str] = {}  # name -> IPv4 address
        self.delegations: dict[str, str] = {}  # child zone -> host:port
        self.answer_ttl = answer_ttl  # seconds
        self.ns_ttl = ns_ttl  # seconds
        threading.Thread(target=self.serve, daemon=True).start()

    def set(self, name: str, ip: str) -> None:
        with self.lock:
            self.records[name] = ip

    def delegate(self, zone: str, addr: str) -> None:
        with self.lock:
            self.delegations[zone] = addr

    # The protocol, one datagram each way:
    #   query:    Q www.example.com
    #   answer:   A www.example.com 192.0.2.10 300
    #   referral: NS example.com 127.0.0.1:40123 86400
    #   no name:  NX www.example.com
    def serve(self) -> None:
        while True:
            try:
                data, sender = self.sock.recvfrom(512)
            except OSError:
                return  # => the socket was closed
            query = data.decode()
            if not query.startswith("Q "):
                continue  # => not a query: drop it, as DNS servers do
            reply = self.respond(query[2:])
            try:
                self.sock.sendto(reply.encode(), sender)
            except OSError as err:
                logging.warning("reply to %s failed: %s", sender, err)

    def respond(self, name: str) -> str:
        with self.lock:
            if name in self.records:
                ip = self.records[name]
                return f"A {name} {ip} {self.answer_ttl}"
            # => a referral for the child zone that the name falls under
            for zone, addr in self.delegations.items():
                if name == zone or name.endswith("." + zone):
                    return f"NS {zone} {addr} {self.ns_ttl}"
        return "NX " + name


class FakeClock:
    """A clock in seconds that moves only when the program advances it,
    so TTL expiry happens at the same point on every run."""

    def __init__(self) -> None:
        self.now = 0.0

    def advance(self, seconds: float) -> None:
        self.now += seconds


# Send one query over UDP and wait up to a second for the reply.
def ask(addr: str, name: str) -> list[str]:
    host, port = addr.rsplit(":", 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1.0)
        sock.sendto(f"Q {name}".encode(), (host, int(port)))
        data, _ = sock.recvfrom(512)
    return data.decode().split()


class Resolver:
    """A caching recursive resolver. Clients send it one recursive query;
    it sends iterative queries down the hierarchy."""

    def __init__(self, root: str, clock: FakeClock) -> None:
        self.root = root  # the root server's address: the only one set
        self.clock = clock
        # "A name" or "NS zone" -> (value, clock reading when TTL runs out)
        self.cache: dict[str, tuple[str, float]] = {}
        self.sent = 0  # queries sent to servers by the last lookup

    # Return a record and its TTL left, if its TTL has not run out.
    def cached(self, key: str) -> tuple[str, float] | None:
        value, expires = self.cache.get(key, ("", 0.0))
        if not value or self.clock.now >= expires:
            return None
        return value, expires - self.clock.now

    def store(self, key: str, value: str, ttl: int) -> None:
        self.cache[key] = (value, self.clock.now + ttl)

    # The deepest zone of name whose server is cached, else the root:
    # www.example.com tries example.com, then com.
    def closest(self, name: str) -> tuple[str, str]:
        labels = name.split(".")
        for i in range(1, len(labels)):
            zone = ".".join(labels[i:])
            if hit := self.cached("NS " + zone):
                return zone, hit[0]
        return ".", self.root

    def resolve(self, name: str) -> str:
        """Return the address of name, printing each step."""
        self.sent = 0
        if hit := self.cached("A " + name):
            # => no packet leaves the resolver
            print(f"  cache hit: {hit[0]}, TTL left {hit[1]:.0f} s")
            return hit[0]
        zone, addr = self.closest(name)
        while True:
            reply = ask(addr, name)
            self.sent += 1
            if len(reply) < 2 or reply[0] == "NX":
                raise LookupError(f"{name}: no such name")
            if len(reply) != 4 or not reply[3].isdigit():
                raise ValueError(f"invalid reply from {zone}: {reply}")
            kind, owner, value = reply[:3]
            ttl = int(reply[3])
            if kind == "A":
                print(f"  ask {zone:<11} -> answer {value}, TTL {ttl} s")
                self.store("A " + name, value, ttl)
                return value
            if kind != "NS":
                raise ValueError(f"invalid reply from {zone}: {reply}")
            # => cache the referral too: the next name under this zone
            # starts here instead of at the root
            print(f"  ask {zone:<11} -> referral to {owner}, TTL {ttl} s")
            self.store("NS " + owner, value, ttl)
            zone, addr = owner, value


def lookup(resolver: Resolver, name: str) -> None:
    print(f"t={resolver.clock.now:.0f}s lookup {name}")
    try:
        resolver.resolve(name)
    except (OSError, LookupError, ValueError) as err:
        print("  error:", err)
    print(f"  queries sent: {resolver.sent}")


def main() -> None:
    # The hierarchy. Each TTL is set by the zone that serves the record:
    # the root refers to com for two days, com to example.com for a day
    # (the real com zone also uses two days), and example.com gives its
    # address five minutes.
    root = Server(answer_ttl=0, ns_ttl=172800)
    com = Server(answer_ttl=0, ns_ttl=86400)
    example = Server(answer_ttl=300, ns_ttl=0)
    root.delegate("com", com.addr)
    com.delegate("example.com", example.addr)
    example.set("www.example.com", "192.0.2.10")
    example.set("api.example.com", "192.0.2.11")

    resolver = Resolver(root.addr, FakeClock())

    # A cold cache walks the whole hierarchy: three round trips.
    lookup(resolver, "www.example.com")
    # => prints: t=0s lookup www.example.com
    # => prints:   ask .           -> referral to com, TTL 172800 s
    # => prints:   ask com         -> referral to example.com, TTL 86400 s
    # => prints:   ask example.com -> answer 192.0.2.10, TTL 300 s
    # => prints:   queries sent: 3

    # Ten seconds later the answer comes from the cache.
    resolver.clock.advance(10)
    lookup(resolver, "www.example.com")
    # => prints: t=10s lookup www.example.com
    # => prints:   cache hit: 192.0.2.10, TTL left 290 s
    # => prints:   queries sent: 0

    # Another name in the same zone: the cached referral skips the root
    # and the TLD, so one round trip is enough.
    lookup(resolver, "api.example.com")
    # => prints: t=10s lookup api.example.com
    # => prints:   ask example.com -> answer 192.0.2.11, TTL 300 s
    # => prints:   queries sent: 1

    # The owner moves www to a new address. Until the cached answer's
    # TTL runs out, the resolver keeps returning the old one.
    example.set("www.example.com", "192.0.2.20")
    resolver.clock.advance(50)
    lookup(resolver, "www.example.com")
    # => prints: t=60s lookup www.example.com
    # => prints:   cache hit: 192.0.2.10, TTL left 240 s
    # => prints:   queries sent: 0

    # At 300 s the TTL has run out: the resolver asks again and gets the
    # new address. The zone's referral (a day) is still cached.
    resolver.clock.advance(240)
    lookup(resolver, "www.example.com")
    # => prints: t=300s lookup www.example.com
    # => prints:   ask example.com -> answer 192.0.2.20, TTL 300 s
    # => prints:   queries sent: 1

    for server in (root, com, example):
        server.sock.close()


if __name__ == "__main__":
    main()
