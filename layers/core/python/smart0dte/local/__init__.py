"""The local runtime: the embedded AWS (moto on 127.0.0.1 with the real state machines and
in-process Lambda handlers), a simulated clock and the replay driver that plays a trading day."""
