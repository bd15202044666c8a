package simredfish

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

const (
	v1           = "/redfish/v1"
	systemsURI   = v1 + "/Systems"
	managersURI  = v1 + "/Managers"
	chassisURI   = v1 + "/Chassis"
	accountsURI  = v1 + "/AccountService/Accounts"
	rolesURI     = v1 + "/AccountService/Roles"
	sessionsURI  = v1 + "/SessionService/Sessions"
	resetAction  = "ComputerSystem.Reset"
	insertAction = "VirtualMedia.InsertMedia"
	ejectAction  = "VirtualMedia.EjectMedia"
	accountSlots = 16
)

var (
	bootTargets = []string{"None", "Pxe", "Hdd", "Cd", "Usb", "BiosSetup", "UefiHttp"}
	bootEnabled = []string{"Once", "Continuous", "Disabled"}
	bootModes   = []string{"UEFI", "Legacy"}
	resetTypes  = []string{"On", "ForceOff", "GracefulShutdown", "ForceRestart", "GracefulRestart", "PowerCycle"}
)

var routes = []route{
	// Served without authentication in serve; here for 405 on other methods.
	{pattern: v1, get: func(b *BMC, _ *request) (obj, *apiError) { return b.serviceRoot() }},
	{pattern: systemsURI, get: (*BMC).systems},
	{pattern: systemsURI + "/*", get: (*BMC).system, patch: (*BMC).patchSystem},
	{pattern: systemsURI + "/*/Actions/" + resetAction, post: (*BMC).reset},
	{pattern: managersURI, get: (*BMC).managers},
	{pattern: managersURI + "/*", get: (*BMC).manager},
	{pattern: managersURI + "/*/VirtualMedia", get: (*BMC).virtualMedias},
	{pattern: managersURI + "/*/VirtualMedia/*", get: (*BMC).virtualMedia},
	{pattern: managersURI + "/*/VirtualMedia/*/Actions/" + insertAction, post: (*BMC).insertMedia},
	{pattern: managersURI + "/*/VirtualMedia/*/Actions/" + ejectAction, post: (*BMC).ejectMedia},
	{pattern: chassisURI, get: (*BMC).chassisList},
	{pattern: chassisURI + "/*", get: (*BMC).chassis},
	{pattern: v1 + "/AccountService", get: (*BMC).accountService},
	{pattern: accountsURI, get: (*BMC).accounts, post: (*BMC).createAccount},
	{pattern: accountsURI + "/*", get: (*BMC).accountGet, patch: (*BMC).patchAccount, del: (*BMC).deleteAccount},
	{pattern: rolesURI, get: (*BMC).roles},
	{pattern: rolesURI + "/*", get: (*BMC).role},
	{pattern: v1 + "/SessionService", get: (*BMC).sessionService},
	{pattern: sessionsURI, get: (*BMC).sessionList},
	{pattern: sessionsURI + "/*", get: (*BMC).sessionGet, del: (*BMC).logout},
}

func (b *BMC) serviceRoot() (obj, *apiError) {
	return obj{
		"@odata.id": v1, "@odata.type": "#ServiceRoot.v1_6_0.ServiceRoot",
		"@odata.context": "/redfish/v1/$metadata#ServiceRoot.ServiceRoot",
		"Id":             "RootService", "Name": "Root Service", "RedfishVersion": "1.9.0",
		"UUID": b.uuid("root"), "Product": "rackctl simulated BMC", "Vendor": "rackctl",
		"Systems": link(systemsURI), "Managers": link(managersURI), "Chassis": link(chassisURI),
		"AccountService": link(v1 + "/AccountService"), "SessionService": link(v1 + "/SessionService"),
		"Links": obj{"Sessions": link(sessionsURI)},
	}, nil
}

func (b *BMC) uuid(kind string) string {
	h := fnv(b.Dir + kind)
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", h, fnv(kind+b.Dir))
}

func collection(uri, typ, name string, ids ...string) obj {
	members := []obj{}
	for _, id := range ids {
		members = append(members, link(uri+"/"+id))
	}
	return obj{
		"@odata.id": uri, "@odata.type": "#" + typ + "." + typ, "Name": name,
		"Members": members, "Members@odata.count": len(members),
	}
}

func status() obj { return obj{"State": "Enabled", "Health": "OK", "HealthRollup": "OK"} }

func onOff(on bool) string {
	if on {
		return "On"
	}
	return "Off"
}

func (b *BMC) systems(q *request) (obj, *apiError) {
	return collection(systemsURI, "ComputerSystemCollection", "Computer System Collection", b.SystemID), nil
}

func (b *BMC) system(q *request) (obj, *apiError) {
	if q.args[0] != b.SystemID {
		return nil, errMissing(q.uri)
	}
	on, err := readPower(b.ChassisDir)
	if err != nil {
		return nil, newErr(http.StatusInternalServerError, msg("InternalError", "Resubmit the request. If the problem persists, consider resetting the service.",
			"The request failed due to an internal service error.  The service is still operational."))
	}
	uri := systemsURI + "/" + b.SystemID
	bo := b.st.Boot
	return obj{
		"@odata.id": uri, "@odata.type": "#ComputerSystem.v1_13_0.ComputerSystem",
		"@odata.context": "/redfish/v1/$metadata#ComputerSystem.ComputerSystem",
		"Id":             b.SystemID, "Name": "System", "SystemType": "Physical",
		"Manufacturer": "rackctl", "Model": "SimServer 1U", "SerialNumber": b.serialNumber,
		"UUID": b.uuid("system"), "BiosVersion": "SIM.1.4.2", "PowerState": onOff(on), "Status": status(),
		"Boot": obj{
			"BootSourceOverrideTarget":                          bo.Target,
			"BootSourceOverrideTarget@Redfish.AllowableValues":  bootTargets,
			"BootSourceOverrideEnabled":                         bo.Enabled,
			"BootSourceOverrideEnabled@Redfish.AllowableValues": bootEnabled,
			"BootSourceOverrideMode":                            bo.Mode,
			"BootSourceOverrideMode@Redfish.AllowableValues":    bootModes,
		},
		"Links": obj{
			"Chassis":   []obj{link(chassisURI + "/" + b.ChassisID)},
			"ManagedBy": []obj{link(managersURI + "/" + b.ManagerID)},
		},
		"Actions": obj{"#" + resetAction: obj{
			"target":                            uri + "/Actions/" + resetAction,
			"ResetType@Redfish.AllowableValues": resetTypes,
		}},
	}, nil
}

// patchSystem sets the boot override. Setting a target while the override
// is Disabled turns it on for one boot, as iDRAC does.
func (b *BMC) patchSystem(q *request, body obj) *apiError {
	if err := q.require("ConfigureComponents"); err != nil {
		return err
	}
	cur, _ := b.system(q)
	msgs := checkProps(body, "", cur, map[string]bool{"Boot": true})
	bootBody, _ := body["Boot"].(obj)
	if _, ok := body["Boot"]; ok && bootBody == nil {
		msgs = append(msgs, msgType(fmt.Sprint(body["Boot"]), "Boot"))
	}
	want := map[string][]string{
		"BootSourceOverrideTarget": bootTargets, "BootSourceOverrideEnabled": bootEnabled, "BootSourceOverrideMode": bootModes,
	}
	writable := map[string]bool{}
	for k := range want {
		writable[k] = true
	}
	msgs = append(msgs, checkProps(bootBody, "Boot/", cur["Boot"].(obj), writable)...)
	vals := map[string]string{}
	for k, allowed := range want {
		if v, ok := bootBody[k]; ok {
			s, m := enumValue(v, "Boot/"+k, allowed)
			if m != nil {
				msgs = append(msgs, *m)
			}
			vals[k] = s
		}
	}
	if len(msgs) > 0 {
		return newErr(http.StatusBadRequest, msgs...)
	}
	bo := &b.st.Boot
	if t, ok := vals["BootSourceOverrideTarget"]; ok {
		bo.Target = t
		if _, set := vals["BootSourceOverrideEnabled"]; !set && bo.Enabled == "Disabled" && t != "None" {
			bo.Enabled = "Once"
		}
	}
	if e, ok := vals["BootSourceOverrideEnabled"]; ok {
		bo.Enabled = e
	}
	if m, ok := vals["BootSourceOverrideMode"]; ok {
		bo.Mode = m
	}
	return b.saveOr500()
}

func (b *BMC) saveOr500() *apiError {
	if err := b.saveLocked(); err != nil {
		return internalError()
	}
	return nil
}

func internalError() *apiError {
	return newErr(http.StatusInternalServerError, msg("InternalError", "Resubmit the request. If the problem persists, consider resetting the service.",
		"The request failed due to an internal service error.  The service is still operational."))
}

// checkProps reports the properties of body that are not writable:
// read-only ones (present in the resource cur) and unknown ones.
func checkProps(body obj, prefix string, cur obj, writable map[string]bool) []message {
	var msgs []message
	keys := make([]string, 0, len(body))
	for k := range body {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch {
		case writable[k]:
		case cur[k] != nil || strings.HasPrefix(k, "@odata."):
			msgs = append(msgs, msgNotWritable(prefix+k))
		default:
			msgs = append(msgs, msgUnknown(prefix+k))
		}
	}
	return msgs
}

func enumValue(v any, prop string, allowed []string) (string, *message) {
	s, ok := v.(string)
	if !ok {
		m := msgType(fmt.Sprint(v), prop)
		return "", &m
	}
	if !slices.Contains(allowed, s) {
		m := msgNotInList(s, prop)
		return "", &m
	}
	return s, nil
}

// reset carries out ComputerSystem.Reset on the shared chassis files:
// the power file for on and off, a line in resets for a restart of a
// running system (a restart of a system that is off powers it on).
func (b *BMC) reset(q *request, body obj) (reply, *apiError) {
	if q.args[0] != b.SystemID {
		return reply{}, errMissing(q.uri)
	}
	if err := q.require("ConfigureComponents"); err != nil {
		return reply{}, err
	}
	var msgs []message
	for k := range body {
		if k != "ResetType" {
			msgs = append(msgs, msgActionParamUnknown(resetAction, k))
		}
	}
	v, ok := body["ResetType"]
	s, isString := v.(string)
	switch {
	case !ok:
		msgs = append(msgs, msgActionParamMissing(resetAction, "ResetType"))
	case !isString || !slices.Contains(resetTypes, s):
		msgs = append(msgs, msgActionParamValue(fmt.Sprint(v), "ResetType", resetAction))
	}
	if len(msgs) > 0 {
		return reply{}, newErr(http.StatusBadRequest, msgs...)
	}
	on, err := readPower(b.ChassisDir)
	if err != nil {
		return reply{}, internalError()
	}
	switch {
	case s == "On":
		err = setPower(b.ChassisDir, true)
	case s == "ForceOff" || s == "GracefulShutdown":
		err = setPower(b.ChassisDir, false)
	case !on:
		err = setPower(b.ChassisDir, true)
	default:
		err = appendReset(b.ChassisDir)
	}
	if err != nil {
		return reply{}, internalError()
	}
	return reply{status: http.StatusNoContent}, nil
}

func (b *BMC) managers(q *request) (obj, *apiError) {
	return collection(managersURI, "ManagerCollection", "Manager Collection", b.ManagerID), nil
}

func (b *BMC) manager(q *request) (obj, *apiError) {
	if q.args[0] != b.ManagerID {
		return nil, errMissing(q.uri)
	}
	uri := managersURI + "/" + b.ManagerID
	off := obj{"ServiceEnabled": false, "MaxConcurrentSessions": 0, "ConnectTypesSupported": []string{}}
	return obj{
		"@odata.id": uri, "@odata.type": "#Manager.v1_10_0.Manager",
		"@odata.context": "/redfish/v1/$metadata#Manager.Manager",
		"Id":             b.ManagerID, "Name": "Manager", "ManagerType": "BMC",
		"Description": "Simulated BMC. It has no serial console over Redfish (SerialConsole and CommandShell are off): " +
			"use IPMI Serial-over-LAN or the simulated server's console log.",
		"Model": "SimBMC", "FirmwareVersion": "2.3.4-sim", "UUID": b.uuid("manager"),
		"PowerState": "On", "Status": status(),
		"SerialConsole": off, "CommandShell": off,
		"VirtualMedia": link(uri + "/VirtualMedia"),
		"Links": obj{
			"ManagerForServers": []obj{link(systemsURI + "/" + b.SystemID)},
			"ManagerForChassis": []obj{link(chassisURI + "/" + b.ChassisID)},
		},
	}, nil
}

func (b *BMC) virtualMedias(q *request) (obj, *apiError) {
	if q.args[0] != b.ManagerID {
		return nil, errMissing(q.uri)
	}
	return collection(managersURI+"/"+b.ManagerID+"/VirtualMedia", "VirtualMediaCollection", "Virtual Media Services", "CD"), nil
}

func (b *BMC) virtualMedia(q *request) (obj, *apiError) {
	if q.args[0] != b.ManagerID || q.args[1] != "CD" {
		return nil, errMissing(q.uri)
	}
	uri := managersURI + "/" + b.ManagerID + "/VirtualMedia/CD"
	m := b.st.Media
	var image any
	connected := "NotConnected"
	if m.Inserted {
		image, connected = m.Image, "URI"
	}
	return obj{
		"@odata.id": uri, "@odata.type": "#VirtualMedia.v1_3_0.VirtualMedia",
		"Id": "CD", "Name": "Virtual CD", "MediaTypes": []string{"CD", "DVD"},
		"Image": image, "Inserted": m.Inserted, "WriteProtected": m.WriteProtected, "ConnectedVia": connected,
		"Actions": obj{
			"#" + insertAction: obj{"target": uri + "/Actions/" + insertAction},
			"#" + ejectAction:  obj{"target": uri + "/Actions/" + ejectAction},
		},
	}, nil
}

// insertMedia mounts an image URL (http or https, as the BMC fetches it
// itself) in the virtual CD.
func (b *BMC) insertMedia(q *request, body obj) (reply, *apiError) {
	if _, err := b.virtualMedia(q); err != nil {
		return reply{}, err
	}
	if err := q.require("ConfigureComponents"); err != nil {
		return reply{}, err
	}
	var msgs []message
	known := map[string]bool{"Image": true, "Inserted": true, "WriteProtected": true, "TransferProtocolType": true}
	for k := range body {
		if !known[k] {
			msgs = append(msgs, msgActionParamUnknown(insertAction, k))
		}
	}
	image, ok := body["Image"].(string)
	if _, present := body["Image"]; !present {
		msgs = append(msgs, msgActionParamMissing(insertAction, "Image"))
	} else if u, err := url.Parse(image); !ok || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		msgs = append(msgs, msgFormat(fmt.Sprint(body["Image"]), "Image"))
	}
	wp := true
	for _, k := range []string{"Inserted", "WriteProtected"} {
		if v, present := body[k]; present {
			bv, isBool := v.(bool)
			if !isBool {
				msgs = append(msgs, msgType(fmt.Sprint(v), k))
			} else if k == "WriteProtected" {
				wp = bv
			}
		}
	}
	if len(msgs) > 0 {
		return reply{}, newErr(http.StatusBadRequest, msgs...)
	}
	if b.st.Media.Inserted {
		return reply{}, newErr(http.StatusConflict, msg("ResourceInUse", "Eject the media first, then resubmit the request.",
			"The change to the requested resource failed because the resource is in use or in transition."))
	}
	b.st.Media = media{Image: image, Inserted: true, WriteProtected: wp}
	if err := b.saveOr500(); err != nil {
		return reply{}, err
	}
	return reply{status: http.StatusNoContent}, nil
}

func (b *BMC) ejectMedia(q *request, body obj) (reply, *apiError) {
	if _, err := b.virtualMedia(q); err != nil {
		return reply{}, err
	}
	if err := q.require("ConfigureComponents"); err != nil {
		return reply{}, err
	}
	for k := range body {
		return reply{}, newErr(http.StatusBadRequest, msgActionParamUnknown(ejectAction, k))
	}
	b.st.Media = media{}
	if err := b.saveOr500(); err != nil {
		return reply{}, err
	}
	return reply{status: http.StatusNoContent}, nil
}

func (b *BMC) chassisList(q *request) (obj, *apiError) {
	return collection(chassisURI, "ChassisCollection", "Chassis Collection", b.ChassisID), nil
}

func (b *BMC) chassis(q *request) (obj, *apiError) {
	if q.args[0] != b.ChassisID {
		return nil, errMissing(q.uri)
	}
	on, err := readPower(b.ChassisDir)
	if err != nil {
		return nil, internalError()
	}
	return obj{
		"@odata.id": chassisURI + "/" + b.ChassisID, "@odata.type": "#Chassis.v1_14_0.Chassis",
		"Id": b.ChassisID, "Name": "Computer System Chassis", "ChassisType": "RackMount",
		"Manufacturer": "rackctl", "Model": "SimServer 1U", "SerialNumber": b.serialNumber,
		"PowerState": onOff(on), "Status": status(),
		"Links": obj{
			"ComputerSystems": []obj{link(systemsURI + "/" + b.SystemID)},
			"ManagedBy":       []obj{link(managersURI + "/" + b.ManagerID)},
		},
	}, nil
}
