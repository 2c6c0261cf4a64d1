"""The screen-pop: what an agent sees when a call reaches them, and the call events.

Fed by the call tracker's effects (``centralita.ami_listener.tracker``): the
:class:`~centralita.screenpop.publisher.ScreenPopPublisher` is one of the ingest
pipeline's effect sinks. On an answer it builds the pop (who calls, the IVR's result, the
customer record, the service's script), publishes it and the call lifecycle events to
MQTT and hands them to the in-process bus the console listens to.

Modules:

- ``model``: the payloads (``ScreenPop``, ``CallEvent``, ``Status``) and their JSON
  schemas, the topic-safe agent id, the collaborators' types;
- ``bus``: ``LocalBus``, the in-process fan-out (``Delivery``) the console subscribes to;
- ``publisher``: ``ScreenPopPublisher``, the effect sink and its MQTT connection;
- ``resolvers``: the service's name and script (``scripts``) and the customer record
  (``ivr``'s customer directory); the only module that imports those parts.

Ingest (``centralita.ami_listener``) knows nothing of this part, of scripts, the IVR or
customers (an import-linter contract in ``pyproject.toml``).
"""
