"""Single sign-on: the identity declaration of an environment (`inventories/<env>/identity.yml`)."""
