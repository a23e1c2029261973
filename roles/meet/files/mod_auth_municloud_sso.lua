-- Installed by role meet (municloud): do not edit on the host.
--
-- mod_auth_municloud_sso: logins on the secure meeting domain are access tokens of the
-- municipality's single sign-on, sent with SASL OAUTHBEARER (RFC 7628; the mechanism
-- itself is prosody-modules' mod_sasl_oauthbearer, Debian package prosody-modules).
--
-- A login is accepted only when the identity provider says, for this very token:
--   1. introspection (RFC 7662, with this service's client credentials): active, and
--      issued to this service's client (client_id) - a token another relying party
--      obtained (e.g. a portal that accepts limited logins) is refused;
--   2. userinfo (with the token): the subject claim names the user logging in (a token
--      of one person cannot log in as another), and the access level claim is one this
--      service accepts (needs.oidc_client.levels of roles/meet/meta/service.yml).
-- Nothing is cached: a token the provider revoked (logout) or that expired is refused at
-- the next login. Account records (last login, level) are kept so user_exists() answers
-- only for people who did log in.

local new_sasl = require "util.sasl".new;
local async = require "util.async";
local http = require "net.http";
local json = require "util.json";
local encodings = require "util.encodings";
local base64 = encodings.base64.encode;
local nodeprep = encodings.stringprep.nodeprep;

local host = module.host;

local function required(name)
	local value = module:get_option_string(name);
	if not value or value == "" then
		error(name .. " is required by mod_auth_municloud_sso");
	end
	return value;
end

local introspection_url = required("sso_introspection_url");
local userinfo_url = required("sso_userinfo_url");
local client_id = required("sso_client_id");
local client_secret = required("sso_client_secret");
local subject_claim = module:get_option_string("sso_subject_claim", "sub");
local level_claim = module:get_option_string("sso_level_claim", "access_level");
local levels = module:get_option_set("sso_levels", {});
if levels:empty() then
	error("sso_levels is required by mod_auth_municloud_sso");
end

module:depends("sasl_oauthbearer");

local accounts = module:open_store("municloud_sso_accounts");

-- An OAuth 2.0 bearer token (RFC 6750 b64token): nothing that could break a header.
local function plausible(token)
	return type(token) == "string" and #token >= 16 and #token <= 4096
		and token:match("^[%w%-%._~%+/]+=*$") ~= nil;
end

local function fetch(url, ex)
	local response, err = async.wait_for(http.request(url, ex));
	if not response then
		module:log("warn", "Identity provider unreachable at %s: %s", url, tostring(err));
		return nil;
	end
	if response.code ~= 200 then
		module:log("info", "Identity provider answered %d at %s", response.code, url);
		return nil;
	end
	local data = json.decode(response.body);
	if type(data) ~= "table" then
		module:log("warn", "Identity provider answered no JSON object at %s", url);
		return nil;
	end
	return data;
end

-- The reason a token does not log `username` in, or nil when it does (and its level).
local function refusal(username, token)
	if not plausible(token) then
		return "not a bearer token";
	end
	local introspected = fetch(introspection_url, {
		method = "POST";
		body = http.formencode({ token = token; token_type_hint = "access_token" });
		headers = {
			["Content-Type"] = "application/x-www-form-urlencoded";
			["Accept"] = "application/json";
			["Authorization"] = "Basic " .. base64(client_id .. ":" .. client_secret);
		};
	});
	if not introspected then
		return "introspection failed";
	end
	if introspected.active ~= true then
		return "token not active (expired, revoked or unknown)";
	end
	if introspected.client_id ~= client_id then
		return "token issued to another client (" .. tostring(introspected.client_id) .. ")";
	end
	local claims = fetch(userinfo_url, {
		headers = { ["Accept"] = "application/json"; ["Authorization"] = "Bearer " .. token };
	});
	if not claims then
		return "userinfo refused the token";
	end
	local subject = claims[subject_claim];
	if type(subject) ~= "string" or nodeprep(subject) ~= username then
		return "token belongs to another subject";
	end
	local level = claims[level_claim];
	if type(level) ~= "string" or not levels:contains(level) then
		return "access level " .. tostring(level) .. " not accepted";
	end
	return nil, level;
end

local provider = {};

function provider.test_password(username, token)
	local why, level = refusal(username, token);
	if why then
		module:log("info", "SSO login of %s@%s refused: %s", username, host, why);
		return nil, why;
	end
	module:log("info", "SSO login of %s@%s accepted (level %s)", username, host, level);
	accounts:set(username, { last_login = os.time(); level = level });
	return true;
end

function provider.get_sasl_handler()
	return new_sasl(host, {
		mechanisms = { OAUTHBEARER = true };
		oauthbearer = function(_, username, token)
			-- (correct, state): state true means "an account", so a refusal is
			-- not-authorized, never account-disabled.
			return provider.test_password(username, token) == true, true;
		end;
	});
end

function provider.user_exists(username)
	return accounts:get(username) ~= nil;
end

function provider.users()
	return accounts:users();
end

function provider.get_password()
	return nil, "passwords are not kept: logins are single sign-on tokens";
end

function provider.set_password()
	return nil, "passwords are not kept: logins are single sign-on tokens";
end

function provider.create_user()
	return nil, "accounts come from the single sign-on";
end

function provider.delete_user(username)
	return accounts:set(username, nil);
end

module:provides("auth", provider);
