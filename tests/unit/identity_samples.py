"""An identity declaration as the inventory exports it to the identity hosts
(`municloud_identity`, municloud/core/identity_declaration.py: export), provider wso2."""

from __future__ import annotations

from typing import Any

GSIS = "https://oauth2.gsis.gr/oauth2server"


def wso2_identity() -> dict[str, Any]:
    base = "https://id.heraklion.gr"
    return {
        "provider": "wso2",
        "public_name": "id.heraklion.gr",
        "issuer": base,
        "levels": ["full", "limited", "staff"],
        "choices": [
            {"name": "taxisnet", "label": "TAXISnet", "level": "full", "kind": "gsis",
             "client_id": "heraklion", "scopes": ["read"], "subject": "taxid",
             "claims": {"tax_id": "taxid", "given_name": "firstname",
                        "family_name": "lastname"},
             "endpoints": {"authorize": f"{GSIS}/oauth/authorize",
                           "token": f"{GSIS}/oauth/token",
                           "userinfo": f"{GSIS}/userinfo?format=xml",
                           "logout": f"{GSIS}/logout/heraklion/"},
             "bridge": {"listen": "127.0.0.1:8471", "path": "/gsis-bridge",
                        "issuer": f"{base}/gsis-bridge", "redirect_uri": f"{base}/",
                        "client_id": "identity",
                        "client_secret_file": "/var/lib/municloud/production/secrets/"
                                              "identity/gsis-bridge.client-secret"}},
            {"name": "google", "label": "Google", "level": "limited", "kind": "oidc",
             "client_id": "heraklion.apps.googleusercontent.com",
             "issuer": "https://accounts.google.com", "scopes": ["openid", "email", "profile"],
             "subject": "sub", "claims": {"mail": "email", "name": "name"},
             "endpoints": {"authorize": "https://accounts.google.com/o/oauth2/v2/auth",
                           "token": "https://oauth2.googleapis.com/token",
                           "userinfo": "https://openidconnect.googleapis.com/v1/userinfo",
                           "jwks": "https://www.googleapis.com/oauth2/v3/certs"}},
            {"name": "facebook", "label": "Facebook", "level": "limited", "kind": "facebook",
             "client_id": "100000000000001", "scopes": ["email", "public_profile"],
             "subject": "id", "claims": {"mail": "email", "name": "name"},
             "endpoints": {"authorize": "https://www.facebook.com/v19.0/dialog/oauth",
                           "token": "https://graph.facebook.com/v19.0/oauth/access_token",
                           "userinfo": "https://graph.facebook.com/me"}},
            {"name": "staff", "label": "Staff account", "level": "staff", "kind": "directory",
             "subject": "uid", "claims": {"uid": "uid", "mail": "mail", "groups": "memberOf"}},
        ],
        "relying_parties": [
            {"name": "eservices", "client_id": "eservices",
             "redirect_uris": ["https://eservices.heraklion.gr/callback"],
             "post_logout_uris": ["https://eservices.heraklion.gr/"],
             "levels": ["full", "limited", "staff"],
             "claims": ["sub", "tax_id", "given_name", "family_name", "mail", "access_level"]},
            {"name": "webmail", "client_id": "webmail",
             "redirect_uris": ["https://webmail.heraklion.gr/oauth2/callback"],
             "post_logout_uris": [], "levels": ["staff"],
             "claims": ["uid", "mail", "groups", "access_level"]},
        ],
        "sessions": {"idle_minutes": 30, "lifetime_hours": 8, "access_token_seconds": 300,
                     "id_token_seconds": 300, "code_seconds": 60},
        "manager": {"admin_group": "identity-admins", "sources": ["10.20.40.0/24"]},
    }


def secrets() -> dict[str, str]:
    return {"taxisnet": "gsis-secret", "taxisnet.bridge": "bridge-secret",
            "google": "google-secret",
            "facebook": "facebook-secret", "eservices": "eservices-secret",
            "webmail": "webmail-secret"}
