<?php
/**
 * municloud role webmail, PHP 8.2 compatibility shims for Horde 5.2 (Debian 12 packages
 * php-horde-webmail 5.2.22-6 / php-horde-imp 6.2.27-3). Loaded by the Horde php-fpm pool
 * through auto_prepend_file; the role applies it only to the package versions it was
 * written for (tasks/php82_compat.yml).
 *
 * 1. each() was removed in PHP 8.0; IMP's mailbox list and several other IMP and
 *    Kronolith files still call it.
 * 2. With Horde's SQL session handler, Horde_SessionHandler::__destruct() runs after the
 *    database object is gone ("Call to a member function commit() on null"): the session
 *    is written and closed after all other shutdown functions, before destructors run. (The role uses
 *    the Builtin session handler, which does not need it; kept so that switching the
 *    handler to Sql does not bring the 500s back.)
 * 3. PHP 8.1 made mysqli throw exceptions by default (MYSQLI_REPORT_ERROR|STRICT);
 *    Horde_Db_Adapter_Mysqli checks return values instead, so its migrations and
 *    queries die on the first exception. The pre-8.1 default is restored. (Horde's PDO
 *    adapter does not have this problem but cannot speak TLS to MariaDB, which the db
 *    role requires.)
 */
if (function_exists('mysqli_report')) {
    mysqli_report(MYSQLI_REPORT_OFF);
}
if (!function_exists('each')) {
    function each(&$array)
    {
        if (!is_array($array) && !is_object($array)) {
            return false;
        }
        $key = key($array);
        if ($key === null) {
            return false;
        }
        $value = current($array);
        next($array);
        return array(1 => $value, 'value' => $value, 0 => $key, 'key' => $key);
    }
}

// Registered from a shutdown function, so that it runs after every shutdown function
// the request itself registered (Horde writes session data in its own): the session is
// closed last, but still before object destructors run.
register_shutdown_function(function () {
    register_shutdown_function(function () {
        if (session_status() === PHP_SESSION_ACTIVE) {
            @session_write_close();
        }
    });
});
