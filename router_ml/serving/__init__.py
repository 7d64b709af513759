"""The gRPC routing service: ``create_server(ServerConfig(...))`` builds it, ``serve`` runs it."""

from router_ml.serving.config import ServerConfig
from router_ml.serving.server import RoutingServer, create_server, serve

__all__ = ["RoutingServer", "ServerConfig", "create_server", "serve"]
