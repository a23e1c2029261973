"""The municloud Pulumi program: an environment's topology as OpenStack resources.

`program.build(topo)` registers the resources (component resources that read like the
topology: a network tier, a service security group, a service host) and returns the
stack outputs; `program.main()` is what `pulumi up` runs (stacks/__main__.py).
"""
