"""Community software from CVMFS: repositories, stacks, modules, images, kernels."""
