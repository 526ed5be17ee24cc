"""The local system: an embedded Redis, the simulator, workers and beat on this machine (`multillm up`).

    embedded.py  the embedded Redis server, the state file that lets commands find a running system
    system.py    EmbeddedSystem: start, supervise and stop every part
"""
