<?php
/**
 * Single sign-on into Horde (role webmail, README "Single sign-on"): Horde is an OpenID
 * Connect relying party of the municipality's identity provider, and IMP logs in to IMAP
 * (and SMTP) with the person's access token (XOAUTH2), which Dovecot checks at the
 * provider's introspection endpoint on every login.
 *
 * Called from Horde's preauthenticate hook (/etc/horde/horde/hooks.php):
 * - transparent authentication with ?sso=1: the browser is sent to the provider's
 *   authorize endpoint (authorization code, PKCE S256, state, nonce);
 * - transparent authentication with ?code=&state= (the redirect URI): the code is
 *   exchanged at the token endpoint (client_secret_basic, back channel over TLS verified
 *   against the municipal CA), the ID token is checked (issuer, audience, expiry, nonce;
 *   OIDC Core 3.1.3.7: received directly from the token endpoint over TLS, so TLS
 *   authenticates the issuer) and its access_level must be one this service accepts,
 *   otherwise a page says why (HTTP 403) and nobody is logged in;
 * - a login with the password form: allowed only when the configuration says so.
 *
 * Configuration: /etc/horde/municloud-sso.json (root:www-data 0640, written by the role).
 */
class Municloud_Sso
{
    /** The password IMP carries in SSO sessions instead of one: Dovecot refuses it before
     *  the directory (a dead token never counts toward the directory's lockout). */
    const PLACEHOLDER = 'municloud-sso-token-login';

    const CONFIG = '/etc/horde/municloud-sso.json';

    /** Horde session keys. */
    const APP = 'horde';
    const PENDING = 'municloud_sso/pending';
    const ACTIVE = 'municloud_sso/active';

    private static $_config;

    public static function config()
    {
        if (!isset(self::$_config)) {
            $raw = @file_get_contents(self::CONFIG);
            $conf = ($raw === false) ? null : json_decode($raw, true);
            if (!is_array($conf)) {
                throw new Horde_Exception('single sign-on: ' . self::CONFIG . ' is missing or not JSON');
            }
            self::$_config = $conf;
        }
        return self::$_config;
    }

    /** The preauthenticate hook. */
    public static function preauthenticate($userId, $credentials)
    {
        $method = isset($credentials['authMethod']) ? $credentials['authMethod'] : '';
        $conf = self::config();
        if (empty($conf['enabled'])) {
            return true;
        }
        if ($method == 'authenticate') {
            // Horde's own login form (the directory password, like an IMAP client).
            return !empty($conf['password_login']);
        }
        if ($method != 'transparent') {
            return true;
        }
        if (isset($_GET['code'], $_GET['state'])) {
            return self::_callback($conf);
        }
        if (isset($_GET['error'], $_GET['state'])) {
            self::_page(403, $conf['refused_title'], $conf['refused_text']);
        }
        if (!empty($_GET['sso'])) {
            self::_authorize($conf);
        }
        return true;
    }

    /** Whether this Horde session was opened by single sign-on. */
    public static function active()
    {
        return !empty($GLOBALS['session']) &&
            $GLOBALS['session']->get(self::APP, self::ACTIVE);
    }

    /** IMP's IMAP password parameter: the placeholder in SSO sessions. */
    public static function imapPassword($password)
    {
        return new IMP_Imap_Password(self::active() ? self::PLACEHOLDER : $password);
    }

    /** IMP's XOAUTH2 token parameter: the access token in SSO sessions, else none. */
    public static function xoauth2($username, $password)
    {
        return self::active() ? new Municloud_Xoauth2($username, $password) : null;
    }

    private static function _b64url($bytes)
    {
        return rtrim(strtr(base64_encode($bytes), '+/', '-_'), '=');
    }

    private static function _authorize($conf)
    {
        global $session;
        $pending = array(
            'state' => self::_b64url(random_bytes(24)),
            'nonce' => self::_b64url(random_bytes(24)),
            'verifier' => self::_b64url(random_bytes(48)),
        );
        $session->set(self::APP, self::PENDING, $pending, $session::ENCRYPT);
        $query = http_build_query(array(
            'response_type' => 'code',
            'client_id' => $conf['client_id'],
            'redirect_uri' => $conf['redirect_uri'],
            'scope' => 'openid profile email',
            'state' => $pending['state'],
            'nonce' => $pending['nonce'],
            'code_challenge' => self::_b64url(hash('sha256', $pending['verifier'], true)),
            'code_challenge_method' => 'S256',
        ));
        header('Cache-Control: no-store');
        header('Location: ' . $conf['authorize_endpoint'] . '?' . $query, true, 302);
        exit;
    }

    private static function _callback($conf)
    {
        global $session;
        $pending = $session->get(self::APP, self::PENDING);
        $session->remove(self::APP, self::PENDING);
        if (!is_array($pending) || !hash_equals($pending['state'], (string)$_GET['state'])) {
            Horde::log('single sign-on: callback without a matching state', 'WARN');
            return false;
        }
        $tokens = self::_token($conf, (string)$_GET['code'], $pending['verifier']);
        if ($tokens === null) {
            return false;
        }
        $claims = self::_idToken($conf, $tokens['id_token'], $pending['nonce']);
        if ($claims === null) {
            return false;
        }
        $level = isset($claims['access_level']) ? $claims['access_level'] : '';
        if (!in_array($level, $conf['levels'], true)) {
            Horde::log(sprintf('single sign-on: %s refused (access level %s)',
                               $claims['sub'], $level), 'NOTICE');
            self::_page(403, $conf['refused_title'], $conf['refused_text']);
        }
        $uid = isset($claims['uid']) ? $claims['uid'] : $claims['sub'];
        if (!preg_match('/^[A-Za-z0-9._-]+$/', $uid)) {
            Horde::log('single sign-on: unusable user id in the ID token', 'WARN');
            return false;
        }
        $session->set(self::APP, self::ACTIVE, true);
        Horde::log(sprintf('single sign-on: %s (%s)', $uid, $level), 'NOTICE');
        return array(
            'userId' => $uid,
            'credentials' => array('transparent' => true,
                                   'password' => $tokens['access_token']),
        );
    }

    private static function _token($conf, $code, $verifier)
    {
        $secret = trim((string)@file_get_contents($conf['client_secret_file']));
        $ch = curl_init($conf['token_endpoint']);
        curl_setopt_array($ch, array(
            CURLOPT_POST => true,
            CURLOPT_POSTFIELDS => http_build_query(array(
                'grant_type' => 'authorization_code',
                'code' => $code,
                'redirect_uri' => $conf['redirect_uri'],
                'code_verifier' => $verifier,
            )),
            CURLOPT_USERPWD => rawurlencode($conf['client_id']) . ':' . rawurlencode($secret),
            CURLOPT_HTTPAUTH => CURLAUTH_BASIC,
            CURLOPT_HTTPHEADER => array('Accept: application/json',
                                        'Host: ' . $conf['issuer_host']),
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_CAINFO => $conf['ca_file'],
            CURLOPT_SSL_VERIFYPEER => true,
            CURLOPT_SSL_VERIFYHOST => 2,
            CURLOPT_TIMEOUT => $conf['timeout'],
        ));
        $body = curl_exec($ch);
        $status = curl_getinfo($ch, CURLINFO_RESPONSE_CODE);
        $error = curl_error($ch);
        curl_close($ch);
        $data = is_string($body) ? json_decode($body, true) : null;
        if ($status != 200 || !is_array($data) || empty($data['access_token']) ||
            empty($data['id_token'])) {
            Horde::log(sprintf('single sign-on: token endpoint answered %s %s', $status,
                               $error ?: (is_array($data) && isset($data['error']) ? $data['error'] : '')),
                       'ERR');
            return null;
        }
        return $data;
    }

    private static function _idToken($conf, $jwt, $nonce)
    {
        $parts = explode('.', $jwt);
        if (count($parts) != 3) {
            return null;
        }
        $claims = json_decode(base64_decode(strtr($parts[1], '-_', '+/')), true);
        $aud = isset($claims['aud']) ? (array)$claims['aud'] : array();
        $problem = null;
        if (!is_array($claims)) {
            $problem = 'not JSON';
        } elseif (!isset($claims['iss']) || $claims['iss'] !== $conf['issuer']) {
            $problem = 'issuer';
        } elseif (!in_array($conf['client_id'], $aud, true)) {
            $problem = 'audience';
        } elseif (!isset($claims['exp']) || $claims['exp'] < time()) {
            $problem = 'expired';
        } elseif (!isset($claims['nonce']) || !hash_equals($nonce, (string)$claims['nonce'])) {
            $problem = 'nonce';
        } elseif (empty($claims['sub'])) {
            $problem = 'subject';
        }
        if ($problem !== null) {
            Horde::log('single sign-on: ID token refused (' . $problem . ')', 'WARN');
            return null;
        }
        return $claims;
    }

    private static function _page($status, $title, $text)
    {
        http_response_code($status);
        header('Content-Type: text/html; charset=UTF-8');
        header('Cache-Control: no-store');
        $conf = self::config();
        printf('<!DOCTYPE html><html><head><meta charset="utf-8"><title>%1$s</title></head>'
               . '<body><main id="municloud-sso-refused"><h1>%1$s</h1><p>%2$s</p>'
               . '<p><a href="%3$s">%4$s</a></p></main></body></html>',
               htmlspecialchars($title), htmlspecialchars($text),
               htmlspecialchars($conf['logout_endpoint']), htmlspecialchars($conf['logout_label']));
        exit;
    }
}
