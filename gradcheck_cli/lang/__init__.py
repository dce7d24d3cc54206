"""The language: text -> tokens -> graph (hash-consed DAG), the op registry and its kernels, shapes, and the
evaluation plan.  Imports only core."""
