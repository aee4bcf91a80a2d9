// Package rendezvous is the proof that a multi-node job's ranks find each
// other in containers: it builds the rendezvous program (./program),
// pushes an image holding it, gives the srun command line that runs it,
// and reads its output. The real chain (one node, srun -n2) and the
// cluster test bed (srun -N2) share it.
package rendezvous
