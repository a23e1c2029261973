<?php
/**
 * Print one line per Horde migration: "<app> <current version> <target version> <state>",
 * state "current" or "differs", and exit 0. Used by the webmail role to run horde-db-migrate only when a schema
 * differs. Boots Horde like horde-db-migrate does (CLI, no authentication).
 * Part of municloud's role webmail.
 */
require_once '/usr/share/horde/lib/Application.php';
mysqli_report(MYSQLI_REPORT_OFF);
Horde_Registry::appInit('horde', array('authentication' => 'none', 'cli' => true));

// The same base directory horde-db-migrate (in /usr/bin) computes.
$migration = new Horde_Core_Db_Migration('/usr/bin/../..');
foreach ($migration->apps as $app) {
    $migrator = $migration->getMigrator($app);
    $current = (int)$migrator->getCurrentVersion();
    $target = (int)$migrator->getTargetVersion();
    printf("%s %d %d %s\n", $app, $current, $target, $current === $target ? 'current' : 'differs');
}
