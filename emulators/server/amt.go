package server

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/oobtb/oobtb/emulators/wire/wsman"
)

// PowerActions maps the API's action names to CIM PowerState request values
// (reference §3.4; DMT's numbering).
var PowerActions = map[string]int{
	"on":        2,
	"sleep":     4,
	"cycle":     5,
	"hibernate": 7,
	"off":       8,
	"reset":     10,
	"soft-off":  12,
}

// PowerStateNames names CIM power states.
var PowerStateNames = map[int]string{
	1: "other", 2: "on", 3: "sleep-light", 4: "sleep-deep", 5: "power-cycle-soft", 6: "off-hard",
	7: "hibernate", 8: "off-soft", 9: "power-cycle-hard", 10: "master-bus-reset", 11: "nmi",
	12: "off-soft-graceful", 13: "off-hard-graceful", 14: "master-bus-reset-graceful", 15: "power-cycle-soft-graceful",
}

// PowerState is a device's power as WS-MAN reports it.
type PowerState struct {
	PowerState         int    `json:"powerState"`
	Name               string `json:"name"`
	Available          []int  `json:"availableRequestedPowerStates,omitempty"`
	OSPowerSavingState int    `json:"osPowerSavingState,omitempty"`
}

// PowerResult is the outcome of a power action.
type PowerResult struct {
	Action      string `json:"action"`
	PowerState  int    `json:"powerState"`
	ReturnValue int    `json:"returnValue"`
}

// Object is an instance rendered as JSON: scalars as strings, repeated
// properties as lists, EPRs and embedded elements as objects.
type Object map[string]any

// Power reads the power state as DMT MPS does: Enumerate/Pull
// CIM_ServiceAvailableToElement → PowerState, then (tolerating failure) Get
// IPS_PowerManagementService → OSPowerSavingState.
func (s *Server) Power(ctx context.Context, uuid string) (PowerState, error) {
	w, err := s.WSMAN(ctx, uuid)
	if err != nil {
		return PowerState{}, err
	}
	defer w.Close()
	items, err := w.Enumerate(ctx, "CIM_ServiceAvailableToElement")
	if err != nil {
		return PowerState{}, err
	}
	if len(items) == 0 {
		return PowerState{}, fmt.Errorf("server: %s: CIM_ServiceAvailableToElement has no instance", uuid)
	}
	ps := PowerState{}
	if ps.PowerState, err = strconv.Atoi(items[0].Get("PowerState")); err != nil {
		return PowerState{}, fmt.Errorf("server: %s: PowerState %q is not a number", uuid, items[0].Get("PowerState"))
	}
	ps.Name = PowerStateNames[ps.PowerState]
	if p, ok := items[0].Prop("AvailableRequestedPowerStates"); ok {
		for _, v := range p.All() {
			if n, err := strconv.Atoi(v); err == nil {
				ps.Available = append(ps.Available, n)
			}
		}
	}
	if in, err := w.Get(ctx, "IPS_PowerManagementService"); err == nil {
		ps.OSPowerSavingState, _ = strconv.Atoi(in.Get("OSPowerSavingState"))
	} else if ctx.Err() != nil {
		return PowerState{}, ctx.Err()
	}
	return ps, nil
}

// PowerAction calls CIM_PowerManagementService.RequestPowerStateChange with
// the ManagedElement EPR DMT MPS sends.
func (s *Server) PowerAction(ctx context.Context, uuid, action string) (PowerResult, error) {
	state, ok := PowerActions[action]
	if !ok {
		return PowerResult{}, fmt.Errorf("%w: power action %q (expected one of %s)", ErrBadRequest, action, powerActionList())
	}
	w, err := s.WSMAN(ctx, uuid)
	if err != nil {
		return PowerResult{}, err
	}
	defer w.Close()
	epr := wsman.NewEPR(wsman.ResourceURI("CIM_ComputerSystem"),
		wsman.Sel("CreationClassName", "CIM_ComputerSystem"), wsman.Sel("Name", "ManagedSystem"))
	r, err := w.Invoke(ctx, "CIM_PowerManagementService", "RequestPowerStateChange",
		[]wsman.Prop{wsman.S("PowerState", strconv.Itoa(state)), wsman.R("ManagedElement", epr)})
	if err != nil {
		return PowerResult{}, err
	}
	rv, err := strconv.Atoi(r.ReturnValue)
	if err != nil {
		return PowerResult{}, fmt.Errorf("server: %s: RequestPowerStateChange ReturnValue %q is not a number", uuid, r.ReturnValue)
	}
	res := PowerResult{Action: action, PowerState: state, ReturnValue: rv}
	s.audit(ctx, "api", "device.power", uuid, map[bool]string{true: "ok", false: "refused"}[rv == 0],
		map[bool]string{true: "", false: "ReturnValue " + r.ReturnValue}[rv == 0], nil)
	return res, nil
}

// GeneralSettings reads AMT_GeneralSettings.
func (s *Server) GeneralSettings(ctx context.Context, uuid string) (Object, error) {
	w, err := s.WSMAN(ctx, uuid)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	in, err := w.Get(ctx, "AMT_GeneralSettings")
	if err != nil {
		return nil, err
	}
	return ObjectOf(in), nil
}

// InventoryGets and InventoryEnums are the classes of DMT's hardwareInfo call
// plus the firmware versions and the network ports.
var (
	InventoryGets  = []string{"CIM_ComputerSystemPackage", "CIM_Chassis", "CIM_Card", "CIM_BIOSElement"}
	InventoryEnums = []string{"CIM_Processor", "CIM_PhysicalMemory", "CIM_MediaAccessDevice", "CIM_PhysicalPackage",
		"CIM_SystemPackaging", "CIM_Chip", "CIM_SoftwareIdentity", "AMT_EthernetPortSettings"}
)

// Inventory is a device's hardware inventory: instances by class, and the
// classes the device does not have (answered with a fault, which stock
// servers tolerate).
type Inventory struct {
	Classes    map[string][]Object `json:"classes"`
	Missing    map[string]string   `json:"missing,omitempty"`
	AMTVersion string              `json:"amtVersion,omitempty"`
}

// HardwareInventory reads the inventory classes.
func (s *Server) HardwareInventory(ctx context.Context, uuid string) (Inventory, error) {
	w, err := s.WSMAN(ctx, uuid)
	if err != nil {
		return Inventory{}, err
	}
	defer w.Close()
	inv := Inventory{Classes: map[string][]Object{}, Missing: map[string]string{}}
	tolerate := func(class string, err error) error {
		var f *wsman.Fault
		if errors.As(err, &f) {
			inv.Missing[class] = f.Error()
			return nil
		}
		return err
	}
	for _, c := range InventoryGets {
		in, err := w.Get(ctx, c)
		if err != nil {
			if err := tolerate(c, err); err != nil {
				return Inventory{}, err
			}
			continue
		}
		inv.Classes[c] = []Object{ObjectOf(in)}
	}
	for _, c := range InventoryEnums {
		items, err := w.Enumerate(ctx, c)
		if err != nil {
			if err := tolerate(c, err); err != nil {
				return Inventory{}, err
			}
			continue
		}
		objs := make([]Object, 0, len(items))
		for i := range items {
			objs = append(objs, ObjectOf(&items[i]))
			if c == "CIM_SoftwareIdentity" && items[i].Get("InstanceID") == "AMT" {
				inv.AMTVersion = items[i].Get("VersionString")
			}
		}
		inv.Classes[c] = objs
	}
	if len(inv.Missing) == 0 {
		inv.Missing = nil
	}
	return inv, nil
}

// ObjectOf renders an instance for JSON.
func ObjectOf(in *wsman.Instance) Object {
	return propsObject(in.Props)
}

func propsObject(props []wsman.Prop) Object {
	o := Object{}
	for _, p := range props {
		switch {
		case p.EPR != nil:
			sel := map[string]string{}
			for _, s := range p.EPR.Selectors {
				sel[s.Name] = s.Value
			}
			o[p.Name] = map[string]any{"resourceURI": p.EPR.ResourceURI, "selectors": sel}
		case p.Elems != nil:
			o[p.Name] = propsObject(p.Elems)
		case p.Values != nil:
			o[p.Name] = append([]string(nil), p.Values...)
		case p.Nil:
			o[p.Name] = nil
		default:
			o[p.Name] = p.Value
		}
	}
	return o
}

func powerActionList() string {
	names := make([]string, 0, len(PowerActions))
	for n := range PowerActions {
		names = append(names, n)
	}
	sort.Strings(names)
	out := ""
	for i, n := range names {
		if i > 0 {
			out += ", "
		}
		out += n
	}
	return out
}
