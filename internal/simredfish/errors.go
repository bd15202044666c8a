package simredfish

import (
	"fmt"
	"net/http"
)

// registry is the Base message registry version the messages cite.
const registry = "Base.1.8."

// message is one entry of @Message.ExtendedInfo (DMTF Message schema).
type message struct {
	ODataType   string   `json:"@odata.type"`
	MessageID   string   `json:"MessageId"`
	Message     string   `json:"Message"`
	MessageArgs []string `json:"MessageArgs"`
	Severity    string   `json:"Severity"`
	// MessageSeverity is Severity's newer name; BMCs send both.
	MessageSeverity string `json:"MessageSeverity"`
	Resolution      string `json:"Resolution"`
}

func msg(id, resolution, text string, args ...string) message {
	sev := "Warning"
	if args == nil {
		args = []string{}
	}
	return message{
		ODataType: "#Message.v1_1_1.Message", MessageID: registry + id, Message: text,
		MessageArgs: args, Severity: sev, MessageSeverity: sev, Resolution: resolution,
	}
}

// apiError is an error reply: an HTTP status and the messages that explain it.
type apiError struct {
	status int
	msgs   []message
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%d %s", e.status, e.msgs[0].Message)
}

func newErr(status int, msgs ...message) *apiError { return &apiError{status: status, msgs: msgs} }

// body is the Redfish error body: one message's id and text as the code
// and message (as bmcweb does), a general error when there are several.
func (e *apiError) body() map[string]any {
	code, text := registry+"GeneralError", "A general error has occurred. See ExtendedInfo for more information."
	if len(e.msgs) == 1 {
		code, text = e.msgs[0].MessageID, e.msgs[0].Message
	}
	return map[string]any{"error": map[string]any{
		"code": code, "message": text, "@Message.ExtendedInfo": e.msgs,
	}}
}

func errMissing(uri string) *apiError {
	return newErr(http.StatusNotFound, msg("ResourceMissingAtURI", "Place a valid resource at the URI or correct the URI and resubmit the request.",
		fmt.Sprintf("The resource at the URI '%s' was not found.", uri), uri))
}

func errNoAuth() *apiError {
	return newErr(http.StatusUnauthorized, msg("NoValidSession", "Establish a session before attempting any operations.",
		"There is no valid session established with the implementation."))
}

func errForbidden() *apiError {
	return newErr(http.StatusForbidden, msg("InsufficientPrivilege", "Either abandon the operation or change the associated access rights and resubmit the request if the operation failed.",
		"There are insufficient privileges for the account or credentials associated with the current session to perform the requested operation."))
}

func errMethod(method, uri string) *apiError {
	return newErr(http.StatusMethodNotAllowed, msg("OperationNotAllowed", "Do not attempt to perform the operation again.",
		fmt.Sprintf("The HTTP method %s is not allowed for the URI %s.", method, uri), method, uri))
}

func errPrecondition() *apiError {
	return newErr(http.StatusPreconditionFailed, msg("PreconditionFailed", "Try the operation again using the appropriate ETag.",
		"The ETag supplied did not match the ETag required to change this resource."))
}

func errMalformed() *apiError {
	return newErr(http.StatusBadRequest, msg("MalformedJSON", "Ensure that the request body is valid JSON and resubmit the request.",
		"The request body submitted was malformed JSON and could not be parsed by the receiving service."))
}

func msgUnknown(prop string) message {
	return msg("PropertyUnknown", "Remove the unknown property from the request body and resubmit the request if the operation failed.",
		fmt.Sprintf("The property %s is not in the list of valid properties for the resource.", prop), prop)
}

func msgNotWritable(prop string) message {
	return msg("PropertyNotWritable", "Remove the property from the request body and resubmit the request if the operation failed.",
		fmt.Sprintf("The property %s is a read only property and cannot be assigned a value.", prop), prop)
}

func msgNotInList(value, prop string) message {
	return msg("PropertyValueNotInList", "Choose a value from the enumeration list that the implementation can support and resubmit the request if the operation failed.",
		fmt.Sprintf("The value '%s' for the property %s is not in the list of acceptable values.", value, prop), value, prop)
}

func msgType(value, prop string) message {
	return msg("PropertyValueTypeError", "Correct the value for the property in the request body and resubmit the request if the operation failed.",
		fmt.Sprintf("The value '%s' for the property %s is of a different type than the property can accept.", value, prop), value, prop)
}

func msgFormat(value, prop string) message {
	return msg("PropertyValueFormatError", "Correct the value for the property in the request body and resubmit the request if the operation failed.",
		fmt.Sprintf("The value '%s' for the property %s is of a different format than the property can accept.", value, prop), value, prop)
}

func msgMissing(prop string) message {
	return msg("PropertyMissing", "Ensure that the property is in the request body and has a valid value and resubmit the request if the operation failed.",
		fmt.Sprintf("The property %s is a required property and must be included in the request.", prop), prop)
}

func msgActionParamMissing(action, param string) message {
	return msg("ActionParameterMissing", "Supply the action with the required parameter in the request body when the request is resubmitted.",
		fmt.Sprintf("The action %s requires the parameter %s to be present in the request body.", action, param), action, param)
}

func msgActionParamValue(value, param, action string) message {
	return msg("ActionParameterValueNotInList", "Choose a value from the enumeration list that the implementation can support and resubmit the request if the operation failed.",
		fmt.Sprintf("The value '%s' for the parameter %s in the action %s is not in the list of acceptable values.", value, param, action), value, param, action)
}

func msgActionParamUnknown(action, param string) message {
	return msg("ActionParameterNotSupported", "Remove the parameter supplied and resubmit the request if the operation failed.",
		fmt.Sprintf("The parameter %s for the action %s is not supported on the target resource.", param, action), param, action)
}

// shown is a property's value as an error message may echo it: never a
// password, whatever its type.
func shown(prop string, v any) string {
	if prop == "Password" {
		return "******"
	}
	return fmt.Sprint(v)
}
