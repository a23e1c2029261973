"""Single sign-on behaviour: the WSO2 management API resources built from the identity
declaration (`wso2_api`). The declaration itself (`inventories/<env>/identity.yml`) is part
of the environment's model: `municloud.core.identity_declaration`."""
