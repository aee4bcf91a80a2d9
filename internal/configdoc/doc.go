// Package configdoc ties the config struct to its documentation: it lists
// every key the struct accepts, reads the README's configuration table, and
// renders the commented default config.yaml that the packages ship. The keys
// come from the struct by reflection, so a key added in code and not in the
// docs fails a test instead of going unnoticed.
//
// render.go walks the struct (Keys) and renders it (Render, Uncomment);
// table.go reads the README's table.
package configdoc
