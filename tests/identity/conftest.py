from tests.identity.op_server import op_settings, openid_provider

__all__ = ["op_settings", "openid_provider"]
