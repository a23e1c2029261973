<?php
/**
 * The XOAUTH2 initial response of an SSO session (role webmail, README "Single sign-on"):
 * base64("user=" uid ^A "auth=Bearer " access token ^A ^A). The token is kept like IMP
 * keeps a password: encrypted in the Horde session (IMP_Imap_Password), never in the
 * serialized IMAP object.
 */
class Municloud_Xoauth2 implements Horde_Imap_Client_Base_Password
{
    public $username;

    private $_token;

    public function __construct($username, $access_token)
    {
        $this->username = $username;
        $this->_token = new IMP_Imap_Password($access_token);
    }

    public function getPassword()
    {
        return base64_encode('user=' . $this->username . "\1" .
                             'auth=Bearer ' . $this->_token->getPassword() . "\1\1");
    }
}
