// Package realchain runs the whole path of a job's image on this machine's
// real root: the real agent installs the real Enroot packages and builds
// the real Pyxis, gets an ECR token through the real SDK from the AWS
// emulators, and a non-root user's srun --container-image runs through
// real Slurm daemons, Pyxis and Enroot pulling from the real registry.
// Guard takes the machine (one chain at a time, under
// /run/lock/enroot-agent-real-chain.lock) and puts back everything the
// chain changed, even after a killed run. It imports no testing: the demo
// runs it, and so do the e2e tests.
package realchain
