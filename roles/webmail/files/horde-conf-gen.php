<?php
/**
 * Generate an application's conf.php the way Horde's web configurator would (which dies
 * on PHP 8.2), but without it: Horde_Config reads the application's conf.xml (all the
 * defaults of the installed version) and our settings come in as the configurator's form
 * values. The existing conf.php is NOT read, so hand edits never survive: the output
 * depends only on conf.xml and the settings.
 *
 * Usage: php horde-conf-gen.php <app> <fileroot> <settings.json | - for stdin>
 *   settings.json: {"<configurator field name>": value}, field names as in the
 *   configurator form, e.g. "sql__phptype", "auth__params__app" (sections joined by "__").
 *   Booleans are JSON booleans, lists JSON arrays (multienum) or comma strings.
 * Prints the conf.php text on stdout. Part of municloud's role webmail.
 */
if ($argc !== 4) {
    fwrite(STDERR, "usage: horde-conf-gen.php <app> <fileroot> <settings.json>\n");
    exit(2);
}
list(, $app, $fileroot, $settingsFile) = $argv;
$settings = json_decode(file_get_contents($settingsFile === '-' ? 'php://stdin' : $settingsFile), true);
if (!is_array($settings)) {
    fwrite(STDERR, "$settingsFile: not a JSON object\n");
    exit(2);
}

require_once 'Horde/Autoloader/Default.php';

/* The few services Horde_Config asks the framework for, without booting Horde. */
class MunicloudRegistryStub
{
    public $fileroot;
    public function get($what, $app) { return $this->fileroot; }
    public function listApps() { return array(); }
    public function hasInterface($i) { return false; }
}
class MunicloudFilterStub
{
    public function filter($text, $filter) { return $text; }
}
class MunicloudInjectorStub
{
    public function getInstance($name) { return new MunicloudFilterStub(); }
}
class MunicloudConfig extends Horde_Config
{
    /* Never start from the current conf.php: output = conf.xml defaults + settings. */
    public function getPHPConfig()
    {
        $this->_oldConfig = '';
        return '';
    }
}

$GLOBALS['registry'] = new MunicloudRegistryStub();
$GLOBALS['registry']->fileroot = $fileroot;
$GLOBALS['injector'] = new MunicloudInjectorStub();

$config = new MunicloudConfig($app);
echo $config->generatePHPConfig(new Horde_Variables($settings));
