// Package host makes this machine, or a --root, look like a compute node
// in what the agent reads of it: users and groups served by a directory
// through a real NSS module (libnss-extrausers, as SSSD serves AD/LDAP
// users), and RDMA adapters (EFA, Mellanox) under sys/ and dev/.
package host
